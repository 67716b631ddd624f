# Reference values for analysis/lmm: lme4 fits, lmerTest Satterthwaite, pbkrtest Kenward-Roger,
# and between-within df computed directly from the design (SAS DDFM=BW rule).
#
# Reads the committed CSVs in tools/r_reference/data/ (sleepstudy.csv is exported here from
# lme4 if it is missing; the others come from make_datasets.py) and writes lmm_values.json,
# which tests/analysis/test_against_r.py compares against, so CI does not need R.
#
# Run from the repository root:  Rscript tools/r_reference/lmm_reference.R
# The optimiser is run to a tight tolerance so that the stored values are the optimum itself,
# not wherever lme4's default stopping rule happened to stop.

source(if (file.exists("common.R")) "common.R" else "tools/r_reference/common.R")

here <- "tools/r_reference"
data_dir <- file.path(here, "data")
sleep_csv <- file.path(data_dir, "sleepstudy.csv")
if (!file.exists(sleep_csv)) write.csv(lme4::sleepstudy, sleep_csv, row.names = FALSE)

read_data <- function(name, factor_col) {
  d <- read.csv(file.path(data_dir, name), stringsAsFactors = FALSE)
  d[[factor_col]] <- factor(d[[factor_col]])
  d
}
datasets <- list(
  sleepstudy = read_data("sleepstudy.csv", "Subject"),
  dietox = read_data("dietox.csv", "Pig"),
  sim_trial_gaussian = read_data("sim_trial_gaussian.csv", "borough"),
  sim_singular_slope = read_data("sim_singular_slope.csv", "g")
)

# Between-within df (SAS DDFM=BETWITHIN): a column constant within every cluster gets
# G - rank(X_between); any other column gets N - G - (rank(X) - rank(X_between)).
between_within <- function(X, g) {
  const <- apply(X, 2, function(col) all(tapply(col, g, function(v) max(v) - min(v)) <= 1e-10 * max(1, abs(col))))
  G <- length(unique(g)); N <- nrow(X)
  rb <- if (any(const)) qr(X[, const, drop = FALSE])$rank else 0
  ra <- qr(X)$rank
  ifelse(const, G - rb, N - G - (ra - rb))
}

fit_case <- function(case, reml) {
  dataset <- case[[1]]; formula <- case[[2]]; group <- case[[3]]
  d <- datasets[[dataset]]
  m <- lmerTest::lmer(as.formula(formula), data = d, REML = reml, control = lmm_control)
  V <- as.matrix(vcov(m))
  vc <- VarCorr(m)[[1]]
  th <- getME(m, "theta")
  out <- c(
    list(dataset = dataset, formula = formula, group = group, reml = reml,
         nobs = nrow(d), ngroups = length(unique(d[[group]]))),
    lmm_fit_values(m, reml),
    list(vcov = unname(V),
         varcomp = named(c(vc[lower.tri(vc, diag = TRUE)], sigma(m)^2), c(names(th), "residual")))
  )
  beta <- fixef(m)
  bw <- between_within(getME(m, "X"), d[[group]])
  tstat <- beta / sqrt(diag(V))
  out$between_within <- list(df = named(bw, names(beta)),
                             p = named(2 * pt(abs(tstat), bw, lower.tail = FALSE), names(beta)))
  out
}

cases <- list(
  sleep_slope = list("sleepstudy", "Reaction ~ Days + (Days | Subject)", "Subject"),
  sleep_intercept = list("sleepstudy", "Reaction ~ Days + (1 | Subject)", "Subject"),
  dietox_intercept = list("dietox", "Weight ~ Time + (1 | Pig)", "Pig"),
  dietox_slope = list("dietox", "Weight ~ Time + (Time | Pig)", "Pig"),
  trial_intercept = list("sim_trial_gaussian", "rate ~ arm * post + period + baseline + (1 | borough)", "borough"),
  singular_slope = list("sim_singular_slope", "y ~ t + (t | g)", "g")
)

values <- fit_reml_and_ml(cases, fit_case)
write_lmm_values(values, "tools/r_reference/lmm_reference.R", file.path(here, "lmm_values.json"))
