# Reference values for analysis/glmm, analysis/gee and analysis/cluster_level.
#
# Reads data/sim_trial_counts.csv and data/sim_trial_binary.csv (simulated by
# make_count_binary_datasets.py) and writes glmm_values.json, which
# tests/analysis/test_against_r_glmm.py compares against.
#
# What each reference is:
# * glmer (lme4): Poisson with log(population) offset, nAGQ = 1, 7, 15; binomial (logit)
#   nAGQ = 1, 10; Poisson + (1 | obs) observation-level random effect (Laplace).
#   The optimizer tolerances are tightened (nloptwrap BOBYQA, xtol/ftol 1e-12) so that the
#   reference is the maximum itself rather than lme4's default stopping point. Standard
#   errors are vcov(fit), which for glmer uses the finite-difference Hessian of the deviance
#   with respect to (theta, beta) (use.hessian); we also store the RX-based version.
# * glmmTMB: negative binomial NB2 (family = nbinom2) with a borough random intercept
#   (Laplace approximation by TMB). sigma(fit) is the NB2 size parameter.
# * geepack::geeglm, exchangeable working correlation (Poisson with offset, binomial),
#   convergence epsilon tightened to 1e-12. geepack's moment estimators are
#   phi = sum(r^2) / N and alpha = sum_{pairs} r r / (phi * number of pairs).
#   The Mancl-DeRouen (2001) bias-reduced sandwich is computed directly below from the
#   geeglm fit: B^-1 [sum D' V^-1 (I - H_ii)^-1 e e' (I - H_ii)^-T V^-1 D] B^-1,
#   H_ii = D_i B^-1 D_i' V_i^-1, and geepack's own vbeta (Liang-Zeger) is stored as well.
# * Cluster-level analysis (Hayes & Moulton 2017, ch. 9; Bennett et al. 2002) computed
#   directly: Poisson glm without intervention on the follow-up quarters with
#   factor(quarter) and the borough's baseline log-rate, ratio residual O/E per borough,
#   t-test on log residuals with df = clusters - 2 - 1 (one cluster-level covariate).
#
# Run from this directory: Rscript glmm_reference.R

suppressMessages({
  library(lme4)
  library(glmmTMB)
  library(geepack)
  library(jsonlite)
})

counts <- read.csv("data/sim_trial_counts.csv")
counts$borough <- factor(counts$borough)
counts$obs <- factor(seq_len(nrow(counts)))
binary <- read.csv("data/sim_trial_binary.csv")
binary$borough <- factor(binary$borough)

ctrl <- glmerControl(optimizer = "nloptwrap",
                     optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-12,
                                    xtol_rel = 1e-12, ftol_rel = 1e-14, maxeval = 1e5))

glmer_values <- function(fit) {
  list(
    fixef = as.list(fixef(fit)),
    se = as.list(sqrt(diag(as.matrix(vcov(fit))))),
    se_rx = as.list(sqrt(diag(as.matrix(vcov(fit, use.hessian = FALSE))))),
    vcov = unname(as.matrix(vcov(fit))),
    theta = unname(getME(fit, "theta")),
    loglik = as.numeric(logLik(fit)),
    deviance = as.numeric(deviance(fit)),
    laplace_devfun = as.numeric(fit@devcomp$cmp[["dev"]])
  )
}

f_pois <- count ~ arm + post + treat + (1 | borough)
out <- list()
for (k in c(1L, 7L, 15L)) {
  fit <- glmer(f_pois, data = counts, family = poisson, offset = log(population),
               nAGQ = k, control = ctrl)
  out[[paste0("poisson_agq", k)]] <- glmer_values(fit)
}
f_bin <- y ~ arm + post + treat + age + (1 | borough)
for (k in c(1L, 10L)) {
  fit <- glmer(f_bin, data = binary, family = binomial, nAGQ = k, control = ctrl)
  out[[paste0("binomial_agq", k)]] <- glmer_values(fit)
}
fit <- glmer(count ~ arm + post + treat + (1 | borough) + (1 | obs), data = counts,
             family = poisson, offset = log(population), control = ctrl)
out[["poisson_olre"]] <- glmer_values(fit)
out[["poisson_olre"]]$theta_names <- names(getME(fit, "theta"))

# glmmTMB NB2 (default nlminb tolerances; tightening them only triggers false convergence codes)
nb <- glmmTMB(count ~ arm + post + treat + (1 | borough) + offset(log(population)),
              data = counts, family = nbinom2)
out[["negbin_tmb"]] <- list(
  fixef = as.list(fixef(nb)$cond),
  se = as.list(sqrt(diag(vcov(nb)$cond))),
  sd_borough = as.numeric(attr(VarCorr(nb)$cond$borough, "stddev")),
  size = as.numeric(sigma(nb)),
  loglik = as.numeric(logLik(nb))
)

# ---- GEE with Mancl-DeRouen sandwich computed directly ----
md_sandwich <- function(fit, X, y, mu, id, dmu, varfun) {
  alpha <- as.numeric(fit$geese$alpha)
  phi <- as.numeric(fit$geese$gamma)
  p <- ncol(X)
  groups <- split(seq_along(y), id)
  B <- matrix(0, p, p)
  parts <- list()
  for (g in names(groups)) {
    i <- groups[[g]]
    n <- length(i)
    R <- matrix(alpha, n, n); diag(R) <- 1
    A <- diag(sqrt(varfun(mu[i])), n)
    V <- phi * A %*% R %*% A
    D <- dmu(mu[i]) * X[i, , drop = FALSE]
    Vi <- solve(V)
    B <- B + t(D) %*% Vi %*% D
    parts[[g]] <- list(D = D, Vi = Vi, e = y[i] - mu[i])
  }
  Binv <- solve(B)
  meat_lz <- matrix(0, p, p)
  meat_md <- matrix(0, p, p)
  for (pt in parts) {
    n <- length(pt$e)
    H <- pt$D %*% Binv %*% t(pt$D) %*% pt$Vi
    e_md <- solve(diag(n) - H, pt$e)
    s_lz <- t(pt$D) %*% pt$Vi %*% pt$e
    s_md <- t(pt$D) %*% pt$Vi %*% e_md
    meat_lz <- meat_lz + s_lz %*% t(s_lz)
    meat_md <- meat_md + s_md %*% t(s_md)
  }
  list(robust = Binv %*% meat_lz %*% Binv, md = Binv %*% meat_md %*% Binv)
}

gee_values <- function(fit, X, y, mu, id, dmu, varfun) {
  s <- md_sandwich(fit, X, y, mu, id, dmu, varfun)
  list(
    coef = as.list(coef(fit)),
    alpha = as.numeric(fit$geese$alpha),
    phi = as.numeric(fit$geese$gamma),
    se_geepack = as.list(sqrt(diag(fit$geese$vbeta))),
    se_robust_direct = sqrt(diag(s$robust)),
    se_md = sqrt(diag(s$md)),
    vcov_md = unname(s$md)
  )
}

gctrl <- geese.control(epsilon = 1e-12, maxit = 200)
gp <- geeglm(count ~ arm + post + treat + offset(log(population)), id = borough,
             data = counts, family = poisson, corstr = "exchangeable", control = gctrl)
Xc <- model.matrix(~ arm + post + treat, counts)
out[["gee_poisson"]] <- gee_values(gp, Xc, counts$count, fitted(gp)[, 1], counts$borough,
                                   function(m) m, function(m) m)
gb <- geeglm(y ~ arm + post + treat + age, id = borough, data = binary, family = binomial,
             corstr = "exchangeable", control = gctrl)
Xb <- model.matrix(~ arm + post + treat + age, binary)
out[["gee_binomial"]] <- gee_values(gb, Xb, binary$y, fitted(gb)[, 1], binary$borough,
                                    function(m) m * (1 - m), function(m) m * (1 - m))

# ---- cluster-level analysis computed directly ----
pre <- counts[counts$post == 0, ]
base <- aggregate(cbind(count, population) ~ borough, data = pre, FUN = sum)
base$baseline_lrate <- log(base$count / base$population)
fu <- merge(counts[counts$post == 1, ], base[, c("borough", "baseline_lrate")], by = "borough")
stage1 <- glm(count ~ factor(quarter) + baseline_lrate + offset(log(population)),
              family = poisson, data = fu)
fu$expected <- fitted(stage1)
cl <- aggregate(cbind(count, expected, population) ~ borough + arm, data = fu, FUN = sum)
cl$log_ratio <- log(cl$count / cl$expected)
cl$rate_diff <- (cl$count - cl$expected) / cl$population
g1 <- cl$log_ratio[cl$arm == 1]; g0 <- cl$log_ratio[cl$arm == 0]
df <- nrow(cl) - 2 - 1
sp2 <- (sum((g1 - mean(g1))^2) + sum((g0 - mean(g0))^2)) / (nrow(cl) - 2)
se <- sqrt(sp2 * (1 / length(g1) + 1 / length(g0)))
est <- mean(g1) - mean(g0)
tstat <- est / se
out[["cluster_level_poisson"]] <- list(
  borough = as.character(cl$borough),
  log_ratio = cl$log_ratio,
  rate_diff = cl$rate_diff,
  log_rate_ratio = est, se = se, df = df, t = tstat,
  p = 2 * pt(-abs(tstat), df),
  rate_ratio = exp(est),
  ci = exp(est + c(-1, 1) * qt(0.975, df) * se)
)

# ---- profile-likelihood intervals of the cluster SD (lme4 confint, method = "profile") ----
fit_p1 <- glmer(f_pois, data = counts, family = poisson, offset = log(population),
                nAGQ = 1, control = ctrl)
ci_p <- confint(fit_p1, parm = "theta_", method = "profile", oldNames = FALSE)
fit_b1 <- glmer(f_bin, data = binary, family = binomial, nAGQ = 1, control = ctrl)
ci_b <- confint(fit_b1, parm = "theta_", method = "profile", oldNames = FALSE)
out[["profile_sd"]] <- list(poisson_laplace = unname(ci_p[1, ]), binomial_laplace = unname(ci_b[1, ]))

# ---- one-way ANOVA ICC of a Gaussian outcome (log quarterly rate) with Searle's CI ----
counts$lrate <- log(counts$count / counts$population)
a <- anova(lm(lrate ~ borough, data = counts))
msb <- a[["Mean Sq"]][1]; msw <- a[["Mean Sq"]][2]
G <- nlevels(counts$borough); N <- nrow(counts); ni <- table(counts$borough)
n0 <- (N - sum(ni^2) / N) / (G - 1)
Fst <- msb / msw
fl <- Fst / qf(0.975, G - 1, N - G); fu <- Fst / qf(0.025, G - 1, N - G)
out[["icc_anova_lrate"]] <- list(icc = (msb - msw) / (msb + (n0 - 1) * msw),
                                 lower = (fl - 1) / (fl + n0 - 1), upper = (fu - 1) / (fu + n0 - 1))

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "glmm_values.json")
cat("wrote glmm_values.json\n")
