# Reference values for GLMMs with several random effects per borough (analysis/glmm/multi.py).
#
# Reads data/sim_cp_counts.csv, data/sim_cp_counts_boundary.csv, data/sim_cp_counts_nb.csv
# and data/sim_cp_binary.csv
# (simulated by make_glmm_terms_datasets.py) and writes glmm_terms_values.json, which
# tests/analysis/test_against_r_glmm_terms.py compares against.
#
# * Estimates and theta: glmer (lme4, Laplace, nAGQ = 1) with tight optimiser tolerances
#   (BOBYQA, rhoend 1e-12: the maximum itself rather than lme4's default stopping point).
# * Standard errors and log-likelihoods: glmmTMB (Laplace by TMB, exact Hessian of the
#   marginal likelihood). glmer's vcov differentiates its own PIRLS-restarting devfun and
#   differs from the exact Laplace curvature by up to ~5e-4; glmmTMB's is the exact one.
#   The fixed-effects block of the inverse Hessian does not depend on how the variance
#   parameters are parametrised, so it is comparable with ours (theta on the SD scale).
# * Negative binomial (nbinom2): glmmTMB only.
# * Containment df: ranks of [X, Z_borough] and [X, Z_borough, Z_borough:post] by qr(),
#   computed here independently of the Python implementation; p-values from t(df).
#
# Run from this directory: Rscript glmm_terms_reference.R

source(if (file.exists("common.R")) "common.R" else "tools/r_reference/common.R")
suppressMessages(library(glmmTMB))

# nloptwrap with xtol/ftol 1e-12 stops ~1e-3 (relative) short of the optimum on these flat
# deviances (log-likelihood 2e-7 below it); BOBYQA with rhoend 1e-12 (common.R) reaches it.
ctrl <- glmer_control
tctrl <- tmb_control()

counts <- read.csv("data/sim_cp_counts.csv")
boundary <- read.csv("data/sim_cp_counts_boundary.csv")
binary <- read.csv("data/sim_cp_binary.csv")
overdispersed <- read.csv("data/sim_cp_counts_nb.csv")
for (d in c("counts", "boundary", "binary", "overdispersed")) {
  x <- get(d); x$borough <- factor(x$borough); x$post <- as.integer(x$post); assign(d, x)
}

fixed_c <- count ~ arm + post + treat + offset(log(population))
glmer_part <- function(fit) list(
  fixef = as.list(fixef(fit)), theta = unname(getME(fit, "theta")),
  theta_names = names(getME(fit, "theta")), deviance = unname(deviance(fit)),
  loglik = as.numeric(logLik(fit)), singular = isSingular(fit))
tmb_part <- function(fit) list(
  fixef = as.list(fixef(fit)$cond), se = as.list(sqrt(diag(vcov(fit)$cond))),
  loglik = as.numeric(logLik(fit)), aic = AIC(fit))

cp <- function(resp) update(resp, . ~ . + (1 | borough) + (1 | borough:post))
out <- list()
for (case in list(list("poisson_cp", counts), list("poisson_cp_boundary", boundary))) {
  name <- case[[1]]; d <- case[[2]]
  f <- count ~ arm + post + treat + offset(log(population)) + (1 | borough) + (1 | borough:post)
  g <- glmer(f, data = d, family = poisson, control = ctrl)
  t <- glmmTMB(f, data = d, family = poisson, control = tctrl)
  out[[name]] <- list(glmer = glmer_part(g), tmb = tmb_part(t))
}
f_slope <- count ~ arm + post + treat + offset(log(population)) + (1 + t | borough)
f_uncor <- count ~ arm + post + treat + offset(log(population)) + (1 | borough) + (0 + t | borough)
for (case in list(list("poisson_slope", f_slope), list("poisson_slope_uncorrelated", f_uncor))) {
  g <- glmer(case[[2]], data = counts, family = poisson, control = ctrl)
  t <- glmmTMB(case[[2]], data = counts, family = poisson, control = tctrl)
  out[[case[[1]]]] <- list(glmer = glmer_part(g), tmb = tmb_part(t))
}
fb <- y ~ arm + post + treat + (1 | borough) + (1 | borough:post)
out$binomial_cp <- list(
  glmer = glmer_part(glmer(fb, data = binary, family = binomial, control = ctrl)),
  tmb = tmb_part(glmmTMB(fb, data = binary, family = binomial, control = tctrl)))
fnb <- count ~ arm + post + treat + offset(log(population)) + (1 | borough) + (1 | borough:post)
nb <- glmmTMB(fnb, data = overdispersed, family = nbinom2, control = tctrl)
out$nb_cp <- list(tmb = c(tmb_part(nb), list(size = sigma(nb))))

# containment df of the cluster-period model, from qr ranks
X <- model.matrix(~ arm + post + treat, counts)
Zb <- model.matrix(~ 0 + borough, counts)
Zbp <- model.matrix(~ 0 + borough:factor(post), counts)
rk <- function(m) qr(m)$rank
df_borough <- rk(cbind(X, Zb)) - rk(X)
df_cell <- rk(cbind(X, Zb, Zbp)) - rk(cbind(X, Zb))
df <- c("(Intercept)" = df_borough, arm = df_borough, post = df_cell, treat = df_cell)
tm <- out$poisson_cp$tmb
z <- unlist(tm$fixef) / unlist(tm$se)
out$containment <- list(df = as.list(df), p_tmb = as.list(2 * pt(-abs(z), df)))

write_values(out, "glmm_terms_values.json")
