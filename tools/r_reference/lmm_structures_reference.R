# Reference values for the LMM's random-effect structures nested in the borough:
# borough x phase and borough x quarter effects, correlated and uncorrelated random slopes,
# and a fit with a variance component on the boundary. lme4 fits (REML and ML), lmerTest
# Satterthwaite df, pbkrtest Kenward-Roger df and adjusted covariance.
#
# Reads the CSVs written by make_lmm_structure_datasets.py and writes
# lmm_structures_values.json, which tests/analysis/test_against_r_structures.py compares
# against, so CI does not need R.
#
# Run from the repository root:  Rscript tools/r_reference/lmm_structures_reference.R
# The optimiser is run to a tight tolerance so that the stored values are the optimum itself.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(jsonlite)
})

here <- "tools/r_reference"
read_data <- function(name) {
  d <- read.csv(file.path(here, "data", name), stringsAsFactors = FALSE)
  d$borough <- factor(d$borough)
  d
}
datasets <- list(
  sim_drift = read_data("sim_drift.csv"),
  sim_sites = read_data("sim_sites.csv"),
  sim_boundary = read_data("sim_boundary.csv")
)

ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6),
                    check.conv.singular = "ignore")

named <- function(x, nm) { x <- as.numeric(x); names(x) <- nm; as.list(x) }

# Keys as analysis.shared.random_effects names them: "g.(Intercept)", "g.t.(Intercept)"
# (a covariance: grouping, second term, first term), "g:f.(Intercept)", "residual".
varcomp_keys <- function(vc) {
  grp <- sub("\\.[0-9]+$", "", vc$grp)
  ifelse(vc$grp == "Residual", "residual",
         ifelse(is.na(vc$var2), paste(grp, vc$var1, sep = "."),
                paste(grp, vc$var2, vc$var1, sep = ".")))
}

fit_case <- function(dataset, formula, reml) {
  d <- datasets[[dataset]]
  m <- lmerTest::lmer(as.formula(formula), data = d, REML = reml, control = ctrl)
  beta <- fixef(m)
  nm <- names(beta)
  p <- length(beta)
  V <- as.matrix(vcov(m))
  vc <- as.data.frame(VarCorr(m))
  th <- getME(m, "theta")
  sat <- contest(m, diag(p), joint = FALSE, ddf = "Satterthwaite")
  out <- list(
    dataset = dataset, formula = formula, reml = reml,
    nobs = nrow(d), ngroups = nlevels(d$borough),
    fixef = named(beta, nm), se = named(sqrt(diag(V)), nm),
    varcomp = named(vc$vcov, varcomp_keys(vc)),
    sdcor = named(vc$sdcor, varcomp_keys(vc)),
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
  out
}

fixed <- "rate ~ arm * post + t"
cases <- list(
  drift_post = list("sim_drift", paste(fixed, "+ (1 | borough) + (1 | borough:post)")),
  drift_slope = list("sim_drift", paste(fixed, "+ (1 + t | borough)")),
  drift_slope_uncorrelated = list("sim_drift", paste(fixed, "+ (1 | borough) + (0 + t | borough)")),
  drift_slope_post = list("sim_drift", paste(fixed, "+ (1 + t | borough) + (1 | borough:post)")),
  sites_period = list("sim_sites", paste(fixed, "+ (1 | borough) + (1 | borough:quarter)")),
  boundary_post = list("sim_boundary", paste(fixed, "+ (1 | borough) + (1 | borough:post)"))
)

values <- list()
for (nm in names(cases)) {
  cs <- cases[[nm]]
  for (reml in c(TRUE, FALSE)) {
    key <- paste0(nm, if (reml) "_reml" else "_ml")
    message("fitting ", key)
    values[[key]] <- fit_case(cs[[1]], cs[[2]], reml)
  }
}

meta <- list(
  R = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  lmerTest = as.character(packageVersion("lmerTest")),
  pbkrtest = as.character(packageVersion("pbkrtest")),
  note = "written by tools/r_reference/lmm_structures_reference.R; do not edit by hand"
)
writeLines(toJSON(list(meta = meta, cases = values), auto_unbox = TRUE, digits = NA, pretty = TRUE,
                  null = "null"),
           file.path(here, "lmm_structures_values.json"))
