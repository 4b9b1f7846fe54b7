"""Interpretable treatment rules from doubly robust arm scores: a shallow policy tree and its honest value."""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..nuisance.base import check_covariates, check_predict_covariates
from .estimator import wald_interval


def _interval_row(policy, phi, rule_phi, alpha):
    value, lower, upper = wald_interval(phi, alpha)
    gain, gain_lower, gain_upper = wald_interval(rule_phi - phi, alpha)
    return {"policy": policy, "value": value, "se": float(np.std(phi, ddof=1) / np.sqrt(len(phi))),
            "lower": lower, "upper": upper, "rule_gain": gain, "rule_gain_lower": gain_lower,
            "rule_gain_upper": gain_upper}


class PolicyRule(BaseEstimator):
    """A shallow policy tree that assigns each patient the arm of largest expected outcome, with its value
    estimated on held-out folds.

    The tree is econml's :class:`econml.policy.PolicyTree` (exhaustive search of the splits of largest welfare,
    Athey & Wager 2021; Zhou, Athey & Wager 2023), fitted on doubly robust scores of each arm (rewards; e.g.
    :attr:`MultiArmCATE.arm_scores_ <causalehr.cate.MultiArmCATE>`, an arm's expected RMST). Its value is estimated
    honestly: for each cross-fitting fold, a tree fitted on the other folds assigns the fold's patients, and the
    value of the rule is the mean of the assigned arm's score (held-out, cross-fitted; Athey & Wager 2021) with a
    Wald interval; the same scores give the value of treating everyone with one arm and, with the patients' own
    doubly robust outcomes, of the observed practice, and the rule's gain over each (paired interval).

    Parameters
    ----------
    max_depth : int, default=2
        Depth of the tree (2 or 3 for a readable rule).
    min_samples_leaf : int, default=50
        Fewest patients in a leaf.
    alpha : float, default=0.05
        1 - coverage of the intervals.
    random_state : int, default=None
        Seed of the trees.

    Attributes
    ----------
    tree_ : econml.policy.PolicyTree
        The rule fitted on all patients.
    arms_ : ndarray
        Arm labels (index = column of the scores).
    held_out_arm_ : ndarray of shape (n,)
        Arm code assigned to each patient by the tree fitted without the patient's fold.
    values_ : pandas.DataFrame
        Value of the rule (held out), of treating all with each arm, and of the observed practice: columns policy,
        value, se, lower, upper, rule_gain, rule_gain_lower, rule_gain_upper.

    References
    ----------
    Athey, S. & Wager, S. (2021). Policy learning with observational data. Econometrica 89, 133-161.
    Zhou, Z., Athey, S. & Wager, S. (2023). Offline multi-action policy learning: generalization and optimization.
    Operations Research 71, 148-183.

    Examples
    --------
    >>> import numpy as np
    >>> from causalehr.cate import PolicyRule
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(600, 2))
    >>> scores = np.column_stack([np.zeros(600), 1.0 * (X[:, 0] < 0.5)]) + rng.normal(size=(600, 2))
    >>> rule = PolicyRule(max_depth=1).fit(X, scores, np.arange(600) % 3, labels=["a", "b"])
    >>> rule.predict(np.array([[0.2, 0.5], [0.8, 0.5]])).tolist()
    ['b', 'a']
    """

    def __init__(self, max_depth=2, min_samples_leaf=50, alpha=0.05, random_state=None):
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.alpha = alpha
        self.random_state = random_state

    def _tree(self):
        from econml.policy import PolicyTree
        return PolicyTree(max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf, honest=False,
                          random_state=self.random_state)

    def fit(self, X, scores, folds, *, labels=None, observed=None):
        """Fit the tree on all patients and, fold by fold, on the other folds for the held-out value.

        Parameters
        ----------
        X : array-like of shape (n, p)
            Covariates the rule may use.
        scores : array-like of shape (n, k)
            Doubly robust score of each arm (larger is better), cross-fitted.
        folds : array-like of shape (n,)
            Cross-fitting fold of each patient (e.g. ``MultiArmCATE.folds_``).
        labels : sequence, default=None
            Arm labels (default 0..k-1).
        observed : array-like of shape (n,), default=None
            Doubly robust outcome of each patient's own arm (e.g. ``nuisances_["aipcw"]``): adds the value of the
            observed practice.

        Returns
        -------
        self
        """
        X = check_covariates(X, allow_nan=False, name="X (covariates)")
        scores = np.asarray(scores, dtype=float)
        folds = np.asarray(folds).ravel()
        if scores.ndim != 2 or scores.shape[0] != len(X) or scores.shape[1] < 2:
            raise ValueError(f"scores must have shape (n, k) with n = {len(X)} rows like X and k >= 2 arms, "
                             f"got {scores.shape}")
        if len(folds) != len(X):
            raise ValueError(f"folds must have {len(X)} rows like X, got {len(folds)}")
        self.arms_ = np.arange(scores.shape[1]) if labels is None else np.asarray(labels)
        if len(self.arms_) != scores.shape[1]:
            raise ValueError(f"labels has {len(self.arms_)} arms, scores has {scores.shape[1]} columns")
        fold_ids = np.unique(folds)
        smallest = min(int((folds != k).sum()) for k in fold_ids)
        need = 2 ** self.max_depth * self.min_samples_leaf
        if len(fold_ids) < 2 or smallest < need:
            raise ValueError(f"a rule of max_depth={self.max_depth} needs at least {need} patients in each training "
                             f"fold (2**{self.max_depth} leaves of min_samples_leaf={self.min_samples_leaf}) and two "
                             f"folds; the smallest training fold has {smallest} of {len(fold_ids)} folds: lower "
                             "max_depth or min_samples_leaf")
        self.tree_ = self._tree().fit(X, scores)
        self.held_out_arm_ = np.empty(len(X), dtype=np.intp)
        for k in fold_ids:
            test = folds == k
            self.held_out_arm_[test] = self._tree().fit(X[~test], scores[~test]).predict(X[test])
        rows = np.arange(len(X))
        rule_phi = scores[rows, self.held_out_arm_]
        table = [_interval_row("rule", rule_phi, rule_phi, self.alpha)]
        table += [_interval_row(f"all {arm}", scores[:, j], rule_phi, self.alpha) for j, arm in enumerate(self.arms_)]
        if observed is not None:
            table.append(_interval_row("observed practice", np.asarray(observed, dtype=float), rule_phi, self.alpha))
        self.values_ = pd.DataFrame(table)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        """Arm label assigned by the rule fitted on all patients, shape (n,)."""
        X = check_predict_covariates(self, X, allow_nan=False, name="X (covariates)")
        return self.arms_[self.tree_.predict(X)]

    def describe(self, feature_names=None):
        """The rule as a table, one row per leaf: the conditions leading to it ("egfr <= 59.9 and bmi > 35.0"),
        the arm it assigns and the share of the patients it holds."""
        check_is_fitted(self)
        tree = self.tree_.tree_
        names = list(feature_names) if feature_names is not None else [f"x{j}" for j in range(self.n_features_in_)]
        rows, stack = [], [(0, [])]
        while stack:
            node, conditions = stack.pop()
            left, right = tree.children_left[node], tree.children_right[node]
            if left == -1:
                arm = self.arms_[int(np.argmax(tree.value[node].ravel()))]
                rows.append({"conditions": " and ".join(conditions) or "everyone", "arm": arm,
                             "share": tree.n_node_samples[node] / tree.n_node_samples[0]})
                continue
            name, cut = names[tree.feature[node]], tree.threshold[node]
            stack += [(right, conditions + [f"{name} > {cut:.4g}"]), (left, conditions + [f"{name} <= {cut:.4g}"])]
        return pd.DataFrame(rows)


def learn_rule(estimator, X, **params):
    """:class:`PolicyRule` fitted on a fitted :class:`~causalehr.cate.MultiArmCATE`'s arm scores, folds, labels and
    own-arm AIPCW outcomes (the observed practice); ``params``: those of PolicyRule."""
    check_is_fitted(estimator)
    return PolicyRule(**params).fit(X, estimator.arm_scores_, estimator.folds_, labels=estimator.arms_,
                                    observed=estimator.nuisances_["aipcw"])
