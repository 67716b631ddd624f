# Helpers shared by the reference scripts in this folder (sourced, never run alone).
#
# Each script sources this file with
#   source(if (file.exists("common.R")) "common.R" else "tools/r_reference/common.R")
# so that it runs from the repository root or from this folder. The script that
# 'rct analyse emit-r' writes for evaluators stays self-contained and does not use it.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

# Tight optimiser tolerances: the stored values are the optimum itself, not wherever the
# packages' default stopping rules happen to stop on the flat likelihoods of few clusters.
lmm_control <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6),
                           check.conv.singular = "ignore")
glmer_control <- glmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6))
tmb_control <- function() {
  glmmTMB::glmmTMBControl(optCtrl = list(iter.max = 1e4, eval.max = 1e4, rel.tol = 1e-14))
}

# A named list of numbers, as the JSON files store per-coefficient values.
named <- function(x, nm) { x <- as.numeric(x); names(x) <- nm; as.list(x) }

# What every LMM reference stores of an lmerTest fit: estimates, SEs, theta, sigma, REML
# criterion or deviance, log-likelihood, singularity, Satterthwaite df and p-values and
# (REML) pbkrtest's Kenward-Roger df, SEs, p-values and adjusted covariance.
lmm_fit_values <- function(m, reml) {
  beta <- fixef(m)
  nm <- names(beta)
  p <- length(beta)
  V <- as.matrix(vcov(m))
  th <- getME(m, "theta")
  sat <- lmerTest::contest(m, diag(p), joint = FALSE, ddf = "Satterthwaite")
  out <- list(
    fixef = named(beta, nm), se = named(sqrt(diag(V)), nm),
    theta = named(th, names(th)),
    sigma = sigma(m),
    criterion = if (reml) unname(getME(m, "devcomp")$cmp["REML"]) else unname(deviance(m)),
    loglik = as.numeric(logLik(m)),
    singular = isSingular(m),
    satterthwaite = list(df = named(sat$df, nm), p = named(sat[["Pr(>|t|)"]], nm)),
    kenward_roger = NULL
  )
  if (reml) {
    kr <- lmerTest::contest(m, diag(p), joint = FALSE, ddf = "Kenward-Roger")
    Vadj <- as.matrix(pbkrtest::vcovAdj(m))
    out$kenward_roger <- list(df = named(kr$df, nm), se = named(kr[["Std. Error"]], nm),
                              p = named(kr[["Pr(>|t|)"]], nm), vcov_adjusted = unname(Vadj))
  }
  out
}

# Every case fitted by REML and by ML: keys "<case>_reml" and "<case>_ml".
fit_reml_and_ml <- function(cases, fit_case) {
  values <- list()
  for (nm in names(cases)) {
    for (reml in c(TRUE, FALSE)) {
      key <- paste0(nm, if (reml) "_reml" else "_ml")
      message("fitting ", key)
      values[[key]] <- fit_case(cases[[nm]], reml)
    }
  }
  values
}

# The JSON every reference script writes: full precision, scalars unboxed.
write_values <- function(x, path) {
  writeLines(toJSON(x, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), path)
}

# The LMM scripts' file: versions of R and the packages, then the cases.
write_lmm_values <- function(values, script, path) {
  meta <- list(
    R = R.version.string,
    lme4 = as.character(packageVersion("lme4")),
    lmerTest = as.character(packageVersion("lmerTest")),
    pbkrtest = as.character(packageVersion("pbkrtest")),
    note = paste0("written by ", script, "; do not edit by hand")
  )
  write_values(list(meta = meta, cases = values), path)
}
