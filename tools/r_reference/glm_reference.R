# Reference values for analysis/shared/glm.py (the GLM without random effects that the
# cluster-level analysis, the randomisation test and every GLMM start fit): R's glm on the
# committed simulated datasets, with a convergence tolerance far below the 1e-8 relative
# tolerance the tests ask of the Python fit. Writes glm_values.json beside this script.
#
# Run from the repository root or this folder: Rscript tools/r_reference/glm_reference.R

source(if (file.exists("common.R")) "common.R" else "tools/r_reference/common.R")
here <- if (file.exists("common.R")) "." else "tools/r_reference"
data_dir <- file.path(here, "data")
counts <- read.csv(file.path(data_dir, "sim_trial_counts.csv"))
binary <- read.csv(file.path(data_dir, "sim_trial_binary.csv"))
rates <- read.csv(file.path(data_dir, "sim_trial_gaussian.csv"))
tight <- glm.control(epsilon = 1e-14, maxit = 200)

values <- function(m) {
  list(coef = as.list(coef(m)), fitted = as.numeric(fitted(m)), deviance = deviance(m))
}

out <- list(
  # stage one of the cluster-level analysis: follow-up rows, quarter effects, no arm
  poisson_quarters = values(glm(count ~ factor(quarter) + offset(log(population)),
                                family = poisson, data = counts[counts$post == 1, ],
                                control = tight)),
  poisson_covariates = values(glm(count ~ arm + post + treat + offset(log(population)),
                                  family = poisson, data = counts, control = tight)),
  binomial_covariates = values(glm(y ~ post + treat + age, family = binomial, data = binary,
                                   control = tight)),
  gaussian_covariates = values(glm(rate ~ factor(period) + baseline,
                                   family = gaussian, data = rates[rates$post == 1, ], control = tight))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "glm_values.json"))
