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

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(jsonlite)
})

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

ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6),
                    check.conv.singular = "ignore")

# Between-within df (SAS DDFM=BETWITHIN): a column constant within every cluster gets
# G - rank(X_between); any other column gets N - G - (rank(X) - rank(X_between)).
between_within <- function(X, g) {
  const <- apply(X, 2, function(col) all(tapply(col, g, function(v) max(v) - min(v)) <= 1e-10 * max(1, abs(col))))
  G <- length(unique(g)); N <- nrow(X)
  rb <- if (any(const)) qr(X[, const, drop = FALSE])$rank else 0
  ra <- qr(X)$rank
  ifelse(const, G - rb, N - G - (ra - rb))
}

named <- function(x, nm) { x <- as.numeric(x); names(x) <- nm; as.list(x) }

fit_case <- function(dataset, formula, group, reml) {
  d <- datasets[[dataset]]
  f <- as.formula(formula)
  m <- lmerTest::lmer(f, data = d, REML = reml, control = ctrl)
  beta <- fixef(m)
  nm <- names(beta)
  p <- length(beta)
  V <- as.matrix(vcov(m))
  vc <- VarCorr(m)[[1]]
  th <- getME(m, "theta")
  varcomp <- named(c(vc[lower.tri(vc, diag = TRUE)], sigma(m)^2), c(names(th), "residual"))
  sat <- contest(m, diag(p), joint = FALSE, ddf = "Satterthwaite")
  out <- list(
    dataset = dataset, formula = formula, group = group, reml = reml,
    nobs = nrow(d), ngroups = length(unique(d[[group]])),
    fixef = named(beta, nm), se = named(sqrt(diag(V)), nm),
    vcov = unname(V),
    varcomp = varcomp,
    theta = named(th, names(th)),
    sigma = sigma(m),
    criterion = if (reml) unname(getME(m, "devcomp")$cmp["REML"]) else unname(deviance(m)),
    loglik = as.numeric(logLik(m)),
    singular = isSingular(m),
    satterthwaite = list(df = named(sat$df, nm), p = named(sat[["Pr(>|t|)"]], nm)),
    kenward_roger = NULL
  )
  if (reml) {
    kr <- contest(m, diag(p), joint = FALSE, ddf = "Kenward-Roger")
    Vadj <- as.matrix(vcovAdj(m))
    out$kenward_roger <- list(df = named(kr$df, nm), se = named(kr[["Std. Error"]], nm),
                              p = named(kr[["Pr(>|t|)"]], nm), vcov_adjusted = unname(Vadj))
  }
  X <- getME(m, "X")
  bw <- between_within(X, d[[group]])
  tstat <- beta / sqrt(diag(V))
  out$between_within <- list(df = named(bw, nm), p = named(2 * pt(abs(tstat), bw, lower.tail = FALSE), nm))
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

values <- list()
for (nm in names(cases)) {
  cs <- cases[[nm]]
  for (reml in c(TRUE, FALSE)) {
    key <- paste0(nm, if (reml) "_reml" else "_ml")
    message("fitting ", key)
    values[[key]] <- fit_case(cs[[1]], cs[[2]], cs[[3]], reml)
  }
}

meta <- list(
  R = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  lmerTest = as.character(packageVersion("lmerTest")),
  pbkrtest = as.character(packageVersion("pbkrtest")),
  note = "written by tools/r_reference/lmm_reference.R; do not edit by hand"
)
writeLines(toJSON(list(meta = meta, cases = values), auto_unbox = TRUE, digits = NA, pretty = TRUE,
                  null = "null"),
           file.path(here, "lmm_values.json"))
