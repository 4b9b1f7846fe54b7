# Reference estimators of Cui et al. (2023, JRSSB 85(2):179-211) on the cohorts written by
# `python benchmarks/bench_strategy1.py csf --grf`: grf's causal survival forest (CSF) and the IPCW
# causal forest they compare it with, both with grf's defaults, for the RMST (horizon = grf's Y.max) and the
# survival probability (horizon = grf's y0).
#
#   Rscript benchmarks/csf_grf.R DIR [METHODS]   (needs the R package grf >= 2.3; reads DIR/cohorts.csv)
#
# METHODS: comma-separated, of "CSF (grf)" and "IPCW forest (grf)" (default both).
#
# DIR/cohorts.csv lists one row per training cohort (setting, rep, train, test, horizon, horizon_surv); each
# test file carries the true CATEs. Writes DIR/grf_mse.csv with the columns of the Python benchmark
# (setting, estimand, method, rep, mse_x100, seconds). One thread, so that it can run beside the Python part.
suppressPackageStartupMessages(library(grf))

ipcw_weights <- function(X, W, Y, D, horizon) {
  # 1 / G(min(Y, horizon) | X, W) from a survival forest on the censoring times (events and censoring swapped)
  censor <- survival_forest(cbind(X, W), Y, 1 - D, prediction.type = "Nelson-Aalen", num.threads = 1)
  G <- predict(censor)$predictions
  idx <- findInterval(pmin(Y, horizon), censor$failure.times)
  g <- rep(1, length(Y))
  g[idx > 0] <- G[cbind(which(idx > 0), idx[idx > 0])]
  1 / g
}

fit_predict <- function(method, estimand, X, W, Y, D, horizon, Xtest) {
  target <- if (estimand == "rmst") "RMST" else "survival.probability"
  if (method == "CSF (grf)") {
    fit <- causal_survival_forest(X, Y, W, D, target = target, horizon = horizon, num.threads = 1)
    return(predict(fit, Xtest)$predictions)
  }
  # IPCW causal forest: complete cases (status known at the horizon) weighted by 1 / G
  weights <- ipcw_weights(X, W, Y, D, horizon)
  known <- D == 1 | Y >= horizon
  outcome <- if (estimand == "rmst") pmin(Y, horizon) else as.numeric(Y > horizon)
  fit <- causal_forest(X[known, ], outcome[known], W[known], sample.weights = weights[known], num.threads = 1)
  predict(fit, Xtest)$predictions
}

METHODS <- c("CSF (grf)", "IPCW forest (grf)")

main <- function(dir, methods = METHODS) {
  unknown <- setdiff(methods, METHODS)
  if (length(unknown)) stop("unknown method(s) ", paste(unknown, collapse = ", "), "; accepted: ",
                            paste(METHODS, collapse = ", "))
  cohorts <- read.csv(file.path(dir, "cohorts.csv"), stringsAsFactors = FALSE)
  rows <- list()
  for (i in seq_len(nrow(cohorts))) {
    co <- cohorts[i, ]
    train <- read.csv(file.path(dir, co$train))
    test <- read.csv(file.path(dir, co$test))
    xcols <- grep("^x[0-9]+$", names(train), value = TRUE)
    X <- as.matrix(train[xcols])
    Xtest <- as.matrix(test[xcols])
    set.seed(co$rep)
    for (estimand in c("rmst", "surv")) {
      horizon <- if (estimand == "rmst") co$horizon else co$horizon_surv
      truth <- if (estimand == "rmst") test$cate_rmst else test$cate_surv
      for (method in methods) {
        t0 <- proc.time()[["elapsed"]]
        pred <- fit_predict(method, estimand, X, train$treatment, train$time, train$event, horizon, Xtest)
        row <- data.frame(setting = co$setting, estimand = estimand, method = method, rep = co$rep,
                          mse_x100 = 100 * mean((pred - truth)^2),
                          seconds = proc.time()[["elapsed"]] - t0)
        print(row)
        rows[[length(rows) + 1]] <- row
      }
    }
    write.csv(do.call(rbind, rows), file.path(dir, "grf_mse.csv"), row.names = FALSE)
  }
}

args <- commandArgs(trailingOnly = TRUE)
if (!length(args) %in% 1:2) stop("usage: Rscript benchmarks/csf_grf.R DIR [METHODS] (DIR: a folder holding ",
                                 "cohorts.csv; METHODS: comma-separated)")
main(args[1], if (length(args) == 2) strsplit(args[2], ",")[[1]] else METHODS)
