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

source(if (file.exists("common.R")) "common.R" else "tools/r_reference/common.R")

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

# Keys as analysis.shared.random_effects names them: "g.(Intercept)", "g.t.(Intercept)"
# (a covariance: grouping, second term, first term), "g:f.(Intercept)", "residual".
varcomp_keys <- function(vc) {
  grp <- sub("\\.[0-9]+$", "", vc$grp)
  ifelse(vc$grp == "Residual", "residual",
         ifelse(is.na(vc$var2), paste(grp, vc$var1, sep = "."),
                paste(grp, vc$var2, vc$var1, sep = ".")))
}

fit_case <- function(case, reml) {
  dataset <- case[[1]]; formula <- case[[2]]
  d <- datasets[[dataset]]
  m <- lmerTest::lmer(as.formula(formula), data = d, REML = reml, control = lmm_control)
  vc <- as.data.frame(VarCorr(m))
  c(
    list(dataset = dataset, formula = formula, reml = reml,
         nobs = nrow(d), ngroups = nlevels(d$borough)),
    lmm_fit_values(m, reml),
    list(varcomp = named(vc$vcov, varcomp_keys(vc)), sdcor = named(vc$sdcor, varcomp_keys(vc)))
  )
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

values <- fit_reml_and_ml(cases, fit_case)
write_lmm_values(values, "tools/r_reference/lmm_structures_reference.R",
                 file.path(here, "lmm_structures_values.json"))
