"""An R script that refits the prespecified mixed models, for evaluators who check in R.

The script reads the analysis dataset that ``rct data export`` writes (columns
``borough, period, phase, indicator, value, denominator, arm, ...``; blank = missing),
rebuilds every model term exactly as :mod:`analysis.sap.dataset` does (the unit
covariates are written into the script from the protocol), and fits each analysis' mixed
models with lme4 (``glmer``, with the analysis' ``nAGQ``), lmerTest (Satterthwaite and
Kenward-Roger degrees of freedom) and glmmTMB (negative binomial; and the standard errors
of GLMMs with several random effects, from the exact Laplace Hessian).

Random effects are the analysis' own, written as the lme4 terms the Python fit uses
(:func:`analysis.sap.methods.random_terms`): ``(1 | unit)``, ``(1 + time | unit)``,
``(0 + time | unit)`` beside ``(1 | unit)``, ``(1 | unit:post)`` (borough x phase) and
``(1 | unit:period)`` (borough x quarter). As in Python, a GLMM with more than a random
intercept is fitted by Laplace (``nAGQ = 1``) and its ``between-within`` inference uses
the containment df (:mod:`analysis.glmm.containment`), computed in the script from lme4's
own random-effect design; a random intercept alone keeps the analysis' ``nAGQ`` and the
between-within df (:mod:`analysis.shared.dof`), also computed in the script. GEE,
cluster-level and randomisation analyses are not refitted (they are listed as comments).

Usage: ``Rscript sap.R analysis_dataset.csv [results_r.csv]``; the script prints the
treatment effect of every model and writes them to the CSV.
"""

from __future__ import annotations

from analysis.families import family_info
from analysis.sap.methods import random_terms
from protocols import Analysis, Protocol

__all__ = ["r_script", "R_METHODS"]

#: Inference methods the script refits.
R_METHODS = ("between-within", "wald-normal", "satterthwaite", "kenward-roger")

_PRELUDE = r"""
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
"""


def _r_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _r_value(v: float | str) -> str:
    if isinstance(v, str):
        return _r_string(v)
    return repr(float(v))


def _units_block(protocol: Protocol) -> str:
    units = sorted(protocol.units, key=lambda u: u.id)
    names = sorted({k for u in units for k in u.covariates})
    cols = [f"  unit = c({', '.join(_r_string(u.id) for u in units)})"]
    for name in names:
        vals = [u.covariates.get(name) for u in units]
        cols.append(f"  {name} = c({', '.join('NA' if v is None else _r_value(v) for v in vals)})")
    return "units <- data.frame(\n" + ",\n".join(cols) + ",\n  stringsAsFactors = FALSE)\n"


def _fixed_rhs(a: Analysis) -> str:
    return " + ".join("period" if t == "period" else t for t in a.fixed)


def _lme4_term(term: str) -> str:
    """``(1+time|unit)`` -> ``(1 + time | unit)``, as lme4's documentation writes it."""
    inner = term.strip()[1:-1]
    lhs, _, group = inner.partition("|")
    return "(" + " + ".join(p.strip() for p in lhs.split("+")) + " | " + group.strip() + ")"


def _random(a: Analysis) -> str:
    """The analysis' random effects as lme4 terms, exactly those the Python fit uses."""
    return " + ".join(_lme4_term(t) for t in random_terms(a.random))


def _single_intercept(a: Analysis) -> bool:
    """A random intercept alone: the analysis' nAGQ and between-within df apply."""
    return random_terms(a.random) == ("(1|unit)",)


def _offset(a: Analysis) -> str:
    return f" + offset(log({a.offset}))" if a.offset else ""


def _lmm_lines(a: Analysis, name: str, term: str, methods: list[str]) -> list[str]:
    rhs = _fixed_rhs(a)
    lines = [
        f"m <- lmerTest::lmer(rate ~ {rhs} + {_random(a)}, data = d, REML = TRUE)",
        f"X <- model.matrix(~ {rhs}, data = d)",
    ]
    for meth in methods:
        if meth in ("satterthwaite", "kenward-roger"):
            ddf = "Satterthwaite" if meth == "satterthwaite" else "Kenward-Roger"
            lines.append(f'co <- summary(m, ddf = "{ddf}")$coefficients')
            lines.append(
                f'report({name}, "{meth}", "{term}", co["{term}", "Estimate"], '
                f'co["{term}", "Std. Error"], co["{term}", "df"])'
            )
        else:
            # the LMM's between-within df ignore the random structure (SAS DDFM=BW)
            df = "Inf" if meth == "wald-normal" else f'bw_df(X, d$unit)[["{term}"]]'
            lines.append(
                f'report({name}, "{meth}", "{term}", fixef(m)[["{term}"]], '
                f'sqrt(diag(as.matrix(vcov(m))))[["{term}"]], {df})'
            )
    return lines


def _glmm_lines(
    protocol: Protocol, a: Analysis, name: str, term: str, methods: list[str]
) -> list[str]:
    info = family_info(a.family)
    rhs = _fixed_rhs(a)
    single = _single_intercept(a)
    model = f"{rhs} + {_random(a)}{_offset(a)}"
    lines = []
    if info.r_engine == "glmmTMB":
        lines.append(
            f"m <- glmmTMB(y ~ {model}, data = d, family = nbinom2, control = tmb_control)"
        )
        lines.append(
            f'est <- fixef(m)$cond[["{term}"]]; se <- sqrt(diag(vcov(m)$cond))[["{term}"]]'
        )
    else:
        ind = protocol.indicator(a.outcome)
        lhs = f"cbind(y, {ind.denominator} - y)" if info.trials and ind.denominator else "y"
        # as in Python: several random effects go by Laplace (glmer refuses AGQ for them)
        nagq = a.nagq if single and info.agq else 1
        lines.append(
            f"m <- glmer({lhs} ~ {model}, data = d, family = {info.name}, nAGQ = {nagq}, "
            "control = glmer_control)"
        )
        lines.append(f'est <- fixef(m)[["{term}"]]')
        if single:
            lines.append(f'se <- sqrt(diag(as.matrix(vcov(m))))[["{term}"]]')
        else:
            # glmer's vcov differentiates its own PIRLS-restarting deviance and differs
            # from the exact Laplace curvature by up to ~1e-3; glmmTMB's is the exact one
            lines.append(
                f"mt <- glmmTMB({lhs} ~ {model}, data = d, family = {info.name}, "
                "control = tmb_control)"
            )
            lines.append(f'se <- sqrt(diag(vcov(mt)$cond))[["{term}"]]')
    lines.append(f"X <- model.matrix(~ {rhs}, data = d)")
    if single:
        df = f'bw_df(X, d$unit)[["{term}"]]'
    else:
        lines.append(f"rt <- glFormula(y ~ {model}, data = d, family = poisson)$reTrms")
        df = f'contain_df(X, rt)[["{term}"]]'
    for meth in methods:
        lines.append(
            f'report({name}, "{meth}", "{term}", est, se, {"Inf" if meth == "wald-normal" else df})'
        )
    return lines


def _analysis_block(protocol: Protocol, a: Analysis) -> str:
    term = "treatment" if "treatment" in a.fixed else "arm"
    lines = [f"\n# ---- {a.role}: {a.name} ({a.family}, outcome {a.outcome}, {a.periods} quarters)"]
    lines.append(
        f"d <- frame_for({_r_string(a.outcome)}, {_r_string(a.periods)}, "
        f"{'TRUE' if 'baseline' in a.fixed else 'FALSE'})"
    )
    name = _r_string(a.name)
    methods = [m for m in a.inference if m in R_METHODS]
    skipped = [m for m in a.inference if m not in R_METHODS]
    if family_info(a.family).r_engine == "lmer":
        lines += _lmm_lines(a, name, term, methods)
    elif methods:
        lines += _glmm_lines(protocol, a, name, term, methods)
    for meth in skipped:
        lines.append(f"# {meth}: not refitted here; see the results JSON written by rct")
    return "\n".join(lines) + "\n"


def r_script(protocol: Protocol, *, fingerprint: str | None = None) -> str:
    """The R script for ``protocol``'s SAP (see the module docstring)."""
    fp = fingerprint or protocol.fingerprint()
    denominators = sorted((i.code, i.denominator) for i in protocol.indicators if i.denominator)
    header = [
        f"# R cross-check of the prespecified analyses of {protocol.trial.id}",
        f"# protocol version {protocol.trial.version}, fingerprint {fp}",
        "# Written by 'rct analyse emit-r'. Usage:",
        "#   Rscript sap.R analysis_dataset.csv [results_r.csv]",
        "# Needs the R packages lme4, lmerTest (with pbkrtest for Kenward-Roger) and glmmTMB.",
    ]
    consts = [
        f"INTERVENTION <- {_r_string(protocol.allocation.intervention_arm)}",
        f"FIRST_QUARTER <- {protocol.schedule.baseline_start.index}",
        "DENOMINATOR <- list("
        + ", ".join(f"{code} = {_r_string(den)}" for code, den in denominators)
        + ")",
    ]
    order = {"primary": 0, "secondary": 1, "sensitivity": 2}
    blocks = [
        _analysis_block(protocol, a)
        for a in sorted(protocol.analyses, key=lambda a: (order.get(a.role, 9), a.name))
    ]
    tail = '\nwrite.csv(results, out_path, row.names = FALSE)\ncat("Wrote", out_path, "\\n")\n'
    return (
        "\n".join(header)
        + "\n"
        + _PRELUDE
        + "\n"
        + "\n".join(consts)
        + "\n"
        + _units_block(protocol)
        + "".join(blocks)
        + tail
    )
