# The peer of the competing-risks benchmark: riskRegression's ate() (Ozenne, Scheike, Staerk & Gerds 2020,
# Biometrical Journal 62:751-763), the AIPTW-AIPCW estimator of the average effect of the treatment on the
# cumulative incidence of cause 1 at the horizon, on the cohorts written by
# `python benchmarks/bench_competing.py peer` (see its docstring for the command that runs both sides).
#
#   Rscript benchmarks/competing_riskregression.R DIR [full|known]   (needs riskRegression and survival; reads
#                                                                    DIR/cohorts.csv)
#
# DIR/cohorts.csv lists one row per cohort (setting, n, rep, file, horizon, truth); each file holds the
# covariates, treatment (0/1), time and event (0 censored, 1 cause 1, 2 competing cause). Nuisance models, all
# with every covariate as a main effect: cause-specific Cox models of both causes with the treatment (CSC), a
# logistic treatment model, a Cox model of the censoring with the treatment. Writes DIR/peer.csv after each
# cohort with the columns of the Python rows (setting, n, rep, method, analysis, ate, se, truth, seconds), the
# interval of ate() (lower, upper) and the message of a failed fit (error). One thread, so that it runs beside
# the Python part. Standard error "full" (the default): the influence function with the estimation of the
# nuisance models (Cox, logistic) accounted for, which costs O(n^2) (47 CPU-s at n = 2,000 on csf2_competing, 6-10
# minutes with 20 covariates); "known": ate(known.nuisance = TRUE), the nuisances taken as known, valid for the
# doubly robust estimator when all its models are consistent (the standard error the compendium computes), at about
# the cost of the point estimate (3-4 CPU-s at n = 2,000, 25 at 10,000); its rows are method
# "riskRegression ate (known nuisance)".
suppressPackageStartupMessages({
  library(riskRegression)
  library(survival)
})

fit_ate <- function(d, covariates, horizon, known_nuisance) {
  rhs <- paste(covariates, collapse = " + ")
  outcome <- as.formula(paste("Hist(time, event) ~ treatment +", rhs))
  censoring <- as.formula(paste("Surv(time, event == 0) ~ treatment +", rhs))
  d$treatment <- factor(d$treatment, levels = c(0, 1))
  # with a censoring model, estimator "AIPTW" is the AIPTW-AIPCW estimator (IPCW weights augmented)
  # do.call puts the formula itself in the call, which ate() evaluates again
  fit <- ate(event = do.call(CSC, list(formula = outcome, data = d)), treatment = as.formula(paste("treatment ~", rhs)),
             censor = censoring, data = d, times = horizon, cause = 1, estimator = "AIPTW", verbose = FALSE,
             known.nuisance = known_nuisance)
  diff <- as.data.frame(fit$diffRisk)
  row <- diff[diff$A == "0" & diff$B == "1", ]
  if (nrow(row) != 1) stop("ate() returned no risk difference of treatment 1 versus 0")
  row
}

main <- function(dir, se) {
  method <- if (se == "known") "riskRegression ate (known nuisance)" else "riskRegression ate"
  cohorts <- read.csv(file.path(dir, "cohorts.csv"), stringsAsFactors = FALSE)
  rows <- list()
  for (i in seq_len(nrow(cohorts))) {
    co <- cohorts[i, ]
    d <- read.csv(file.path(dir, co$file))
    covariates <- setdiff(names(d), c("treatment", "time", "event"))
    bad <- setdiff(unique(d$event), c(0, 1, 2))
    if (length(bad) > 0) stop(sprintf("%s: event codes %s outside 0, 1, 2", co$file, toString(bad)))
    t0 <- proc.time()[["elapsed"]]
    # a cohort where ate() fails (e.g. a Cox model that does not converge) gets NA and the message in `error`
    r <- tryCatch(cbind(fit_ate(d, covariates, co$horizon, se == "known"), error = ""), error = function(e)
      data.frame(estimate = NA, se = NA, lower = NA, upper = NA, error = conditionMessage(e)))
    rows[[length(rows) + 1]] <- data.frame(
      setting = co$setting, n = co$n, rep = co$rep, method = method, analysis = "competing",
      ate = r$estimate, se = r$se, lower = r$lower, upper = r$upper, truth = co$truth,
      seconds = proc.time()[["elapsed"]] - t0, error = r$error)
    print(rows[[length(rows)]])
    write.csv(do.call(rbind, rows), file.path(dir, "peer.csv"), row.names = FALSE)
  }
}

args <- commandArgs(trailingOnly = TRUE)
if (!(length(args) %in% 1:2) || (length(args) == 2 && !(args[2] %in% c("full", "known"))))
  stop("usage: Rscript benchmarks/competing_riskregression.R DIR [full|known] (DIR: a folder holding cohorts.csv)")
main(args[1], if (length(args) == 2) args[2] else "full")
