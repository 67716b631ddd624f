# R cross-check of the prespecified analyses of safe-and-together-london-rct
# protocol version 0.1-illustrative, fingerprint 7286f29a1ba1593da0f429fc9ed535d0ba623ae9ac1b4e21f2d3a3b8eb63cfb0
# Written by 'rct analyse emit-r'. Usage:
#   Rscript sap.R analysis_dataset.csv [results_r.csv]
# Needs the R packages lme4, lmerTest (with pbkrtest for Kenward-Roger) and glmmTMB.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(glmmTMB)
})
args <- commandArgs(trailingOnly = TRUE)
data_path <- if (length(args) >= 1) args[1] else "analysis_dataset.csv"
out_path <- if (length(args) >= 2) args[2] else "results_r.csv"
raw <- read.csv(data_path, stringsAsFactors = FALSE, na.strings = "")

quarter_index <- function(p) {
  as.integer(substr(p, 1, 4)) * 4 + as.integer(substr(p, 7, 7)) - 1
}

# Between-within df (SAS DDFM=BW): a column constant within every cluster gets
# G - rank(between columns); one varying within some cluster gets N - G - #within columns.
bw_df <- function(X, g) {
  g <- as.integer(factor(g))
  within <- apply(X, 2, function(col) any(tapply(col, g, function(v) diff(range(v)) > 1e-12 * (1 + max(abs(v))))))
  G <- length(unique(g))
  p_between <- if (any(!within)) qr(X[, !within, drop = FALSE])$rank else 0
  df <- ifelse(within, nrow(X) - G - sum(within), G - p_between)
  setNames(pmax(df, 1), colnames(X))
}

# Containment df (analysis.glmm.containment): a column constant within every level of an
# intercept term gets the rank that the finest such term adds to [X, coarser terms]; any
# other column gets n - rank([X, Z]). rt is lme4's random-effect design (reTrms).
contain_df <- function(X, rt) {
  rank <- function(M) if (ncol(M) == 0) 0 else qr(M, tol = 1e-10)$rank
  cnms <- rt$cnms
  facs <- lapply(which(sapply(cnms, function(cn) "(Intercept)" %in% cn)),
                 function(k) factor(rt$flist[[names(cnms)[k]]]))
  facs <- facs[order(sapply(facs, nlevels))]
  contrib <- numeric(length(facs))
  M <- X
  base <- rank(X)
  for (k in seq_along(facs)) {
    M <- cbind(M, model.matrix(~ 0 + f, data.frame(f = facs[[k]])))
    r <- rank(M)
    contrib[k] <- r - base
    base <- r
  }
  residual <- nrow(X) - rank(cbind(X, as.matrix(t(rt$Zt))))
  constant <- function(col, f) all(tapply(col, f, function(v) diff(range(v))) <= 1e-12 * (1 + max(abs(col))))
  df <- sapply(seq_len(ncol(X)), function(j) {
    for (k in rev(seq_along(facs))) if (constant(X[, j], facs[[k]])) return(contrib[k])
    residual
  })
  setNames(df, colnames(X))
}

# Tight optimiser tolerances: the maximum itself rather than lme4's default stopping point
# (which can be ~1e-3 short of it on the flat deviances of seven clusters).
glmer_control <- glmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6))
tmb_control <- glmmTMBControl(optCtrl = list(iter.max = 1e4, eval.max = 1e4, rel.tol = 1e-14))

results <- data.frame(analysis = character(), method = character(), term = character(),
                      estimate = numeric(), std_error = numeric(), df = numeric(),
                      pvalue = numeric(), stringsAsFactors = FALSE)
report <- function(analysis, method, term, est, se, df) {
  p <- if (is.infinite(df)) 2 * pnorm(-abs(est / se)) else 2 * pt(-abs(est / se), df)
  cat(sprintf("%-45s %-16s %-10s estimate %.8g  se %.8g  df %.6g  p %.6g\n",
              analysis, method, term, est, se, df, p))
  results[nrow(results) + 1, ] <<- list(analysis, method, term, est, se, df, p)
}

frame_for <- function(outcome, periods, need_baseline) {
  d <- raw[raw$indicator == outcome & raw$phase %in% c("baseline", "follow_up"), ]
  base <- d[d$phase == "baseline" & !is.na(d$value), ]
  if (periods == "follow_up") d <- d[d$phase == "follow_up", ]
  d <- d[!is.na(d$value), ]
  d$unit <- d$borough
  d <- merge(d, units, by = "unit", sort = FALSE)
  d <- d[order(d$unit, d$period), ]
  d$y <- d$value
  d$post <- as.numeric(d$phase == "follow_up")
  d$arm <- as.numeric(d$arm == INTERVENTION)
  d$treatment <- d$arm * d$post
  d$time <- quarter_index(d$period) - FIRST_QUARTER
  if (!is.null(DENOMINATOR[[outcome]])) {
    d$rate <- d$y / d[[DENOMINATOR[[outcome]]]] * 10000
  }
  if (need_baseline) {
    den <- DENOMINATOR[[outcome]]
    b <- sapply(split(base, base$borough), function(r) {
      dn <- if (is.null(den)) 1 else units[units$unit == r$borough[1], den]
      log(max(sum(r$value), 0.5) / (nrow(r) * dn) * 10000)
    })
    d$baseline <- b[d$unit]
  }
  d$period <- factor(d$period)
  d$unit <- factor(d$unit)
  d
}

INTERVENTION <- "intervention"
FIRST_QUARTER <- 8100
DENOMINATOR <- list(children_into_care_with_da = "child_population", cp_plans_with_da = "child_population", da_flagged_after_assessment = "child_population", da_re_referrals = "child_population", da_referral_at_intake = "child_population")
units <- data.frame(
  unit = c("camden", "enfield", "greenwich", "haringey", "lewisham", "southwark", "tower_hamlets"),
  baseline_da_referral_rate = c(38.0, 31.0, 44.0, 41.0, 36.0, 40.0, 47.0),
  child_population = c(43000.0, 80000.0, 66000.0, 55000.0, 64000.0, 58000.0, 67000.0),
  inner_london = c("inner", "outer", "outer", "inner", "inner", "inner", "inner"),
  stringsAsFactors = FALSE)

# ---- sensitivity: glmm_borough_phase (poisson, outcome da_re_referrals, all quarters)
d <- frame_for("da_re_referrals", "all", FALSE)
m <- glmer(y ~ treatment + period + (1 | unit) + (1 | unit:post) + offset(log(child_population)), data = d, family = poisson, nAGQ = 1, control = glmer_control)
est <- fixef(m)[["treatment"]]
mt <- glmmTMB(y ~ treatment + period + (1 | unit) + (1 | unit:post) + offset(log(child_population)), data = d, family = poisson, control = tmb_control)
se <- sqrt(diag(vcov(mt)$cond))[["treatment"]]
X <- model.matrix(~ treatment + period, data = d)
rt <- glFormula(y ~ treatment + period + (1 | unit) + (1 | unit:post) + offset(log(child_population)), data = d, family = poisson)$reTrms
report("glmm_borough_phase", "between-within", "treatment", est, se, contain_df(X, rt)[["treatment"]])
report("glmm_borough_phase", "wald-normal", "treatment", est, se, Inf)

# ---- sensitivity: glmm_borough_quarter (poisson, outcome da_re_referrals, all quarters)
d <- frame_for("da_re_referrals", "all", FALSE)
m <- glmer(y ~ treatment + period + (1 | unit) + (1 | unit:period) + offset(log(child_population)), data = d, family = poisson, nAGQ = 1, control = glmer_control)
est <- fixef(m)[["treatment"]]
mt <- glmmTMB(y ~ treatment + period + (1 | unit) + (1 | unit:period) + offset(log(child_population)), data = d, family = poisson, control = tmb_control)
se <- sqrt(diag(vcov(mt)$cond))[["treatment"]]
X <- model.matrix(~ treatment + period, data = d)
rt <- glFormula(y ~ treatment + period + (1 | unit) + (1 | unit:period) + offset(log(child_population)), data = d, family = poisson)$reTrms
report("glmm_borough_quarter", "between-within", "treatment", est, se, contain_df(X, rt)[["treatment"]])

# ---- sensitivity: glmm_trend (poisson, outcome da_re_referrals, all quarters)
d <- frame_for("da_re_referrals", "all", FALSE)
m <- glmer(y ~ treatment + period + (1 + time | unit) + offset(log(child_population)), data = d, family = poisson, nAGQ = 1, control = glmer_control)
est <- fixef(m)[["treatment"]]
mt <- glmmTMB(y ~ treatment + period + (1 + time | unit) + offset(log(child_population)), data = d, family = poisson, control = tmb_control)
se <- sqrt(diag(vcov(mt)$cond))[["treatment"]]
X <- model.matrix(~ treatment + period, data = d)
rt <- glFormula(y ~ treatment + period + (1 + time | unit) + offset(log(child_population)), data = d, family = poisson)$reTrms
report("glmm_trend", "between-within", "treatment", est, se, contain_df(X, rt)[["treatment"]])

# ---- sensitivity: glmm_trend_uncorrelated (poisson, outcome da_re_referrals, all quarters)
d <- frame_for("da_re_referrals", "all", FALSE)
m <- glmer(y ~ treatment + period + (1 | unit) + (0 + time | unit) + offset(log(child_population)), data = d, family = poisson, nAGQ = 1, control = glmer_control)
est <- fixef(m)[["treatment"]]
mt <- glmmTMB(y ~ treatment + period + (1 | unit) + (0 + time | unit) + offset(log(child_population)), data = d, family = poisson, control = tmb_control)
se <- sqrt(diag(vcov(mt)$cond))[["treatment"]]
X <- model.matrix(~ treatment + period, data = d)
rt <- glFormula(y ~ treatment + period + (1 | unit) + (0 + time | unit) + offset(log(child_population)), data = d, family = poisson)$reTrms
report("glmm_trend_uncorrelated", "between-within", "treatment", est, se, contain_df(X, rt)[["treatment"]])

# ---- sensitivity: lmm_borough_phase (gaussian, outcome da_re_referrals, all quarters)
d <- frame_for("da_re_referrals", "all", FALSE)
m <- lmerTest::lmer(rate ~ treatment + period + (1 | unit) + (1 | unit:post), data = d, REML = TRUE)
X <- model.matrix(~ treatment + period, data = d)
co <- summary(m, ddf = "Satterthwaite")$coefficients
report("lmm_borough_phase", "satterthwaite", "treatment", co["treatment", "Estimate"], co["treatment", "Std. Error"], co["treatment", "df"])
co <- summary(m, ddf = "Kenward-Roger")$coefficients
report("lmm_borough_phase", "kenward-roger", "treatment", co["treatment", "Estimate"], co["treatment", "Std. Error"], co["treatment", "df"])
report("lmm_borough_phase", "between-within", "treatment", fixef(m)[["treatment"]], sqrt(diag(as.matrix(vcov(m))))[["treatment"]], bw_df(X, d$unit)[["treatment"]])

# ---- sensitivity: lmm_trend (gaussian, outcome da_re_referrals, all quarters)
d <- frame_for("da_re_referrals", "all", FALSE)
m <- lmerTest::lmer(rate ~ treatment + period + (1 + time | unit), data = d, REML = TRUE)
X <- model.matrix(~ treatment + period, data = d)
co <- summary(m, ddf = "Satterthwaite")$coefficients
report("lmm_trend", "satterthwaite", "treatment", co["treatment", "Estimate"], co["treatment", "Std. Error"], co["treatment", "df"])
co <- summary(m, ddf = "Kenward-Roger")$coefficients
report("lmm_trend", "kenward-roger", "treatment", co["treatment", "Estimate"], co["treatment", "Std. Error"], co["treatment", "df"])

# ---- sensitivity: nb_borough_phase (negative_binomial, outcome da_re_referrals, all quarters)
d <- frame_for("da_re_referrals", "all", FALSE)
m <- glmmTMB(y ~ treatment + period + (1 | unit) + (1 | unit:post) + offset(log(child_population)), data = d, family = nbinom2, control = tmb_control)
est <- fixef(m)$cond[["treatment"]]; se <- sqrt(diag(vcov(m)$cond))[["treatment"]]
X <- model.matrix(~ treatment + period, data = d)
rt <- glFormula(y ~ treatment + period + (1 | unit) + (1 | unit:post) + offset(log(child_population)), data = d, family = poisson)$reTrms
report("nb_borough_phase", "between-within", "treatment", est, se, contain_df(X, rt)[["treatment"]])

write.csv(results, out_path, row.names = FALSE)
cat("Wrote", out_path, "\n")
