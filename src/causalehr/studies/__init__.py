"""The studies of the compendium, one module each, each with the same shape: ``run`` (fit or simulate), ``summarise``
(performance over replications), ``report`` (figures, tables and the values the paper quotes, written to the paths of
the stage's output contract, :data:`causalehr.workflow.STAGES`). The notebooks call these modules; the estimator
packages (cate, nuisance, ccw, simulate, metrics, probation, survival) never import them."""
