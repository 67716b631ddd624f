"""An R script that refits the prespecified mixed models, for evaluators who check in R.

The script reads the analysis dataset that ``rct data export`` writes (columns
``borough, period, phase, indicator, value, denominator, arm, ...``; blank = missing),
rebuilds every model term exactly as :mod:`analysis.sap.dataset` does (the unit
covariates are written into the script from the protocol), and fits each analysis' mixed
models with lme4 (``glmer``, with the analysis' ``nAGQ``), lmerTest (Satterthwaite and
Kenward-Roger degrees of freedom) and glmmTMB (negative binomial). Between-within degrees
of freedom are computed in the script by the same rule as :mod:`analysis.shared.dof`. GEE,
cluster-level and randomisation analyses are not refitted (they are listed as comments).

Usage: ``Rscript sap.R analysis_dataset.csv [results_r.csv]``; the script prints the
treatment effect of every model and writes them to the CSV.
"""

from __future__ import annotations

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


def _random(a: Analysis) -> str:
    return "(1 + time | unit)" if "unit:time" in a.random else "(1 | unit)"


def _offset(a: Analysis) -> str:
    return f" + offset(log({a.offset}))" if a.offset else ""


def _analysis_block(protocol: Protocol, a: Analysis) -> str:
    term = "treatment" if "treatment" in a.fixed else "arm"
    lines = [f"\n# ---- {a.role}: {a.name} ({a.family}, outcome {a.outcome}, {a.periods} quarters)"]
    lines.append(
        f"d <- frame_for({_r_string(a.outcome)}, {_r_string(a.periods)}, "
        f"{'TRUE' if 'baseline' in a.fixed else 'FALSE'})"
    )
    rhs = _fixed_rhs(a)
    name = _r_string(a.name)
    methods = [m for m in a.inference if m in R_METHODS]
    skipped = [m for m in a.inference if m not in R_METHODS]
    if a.family == "gaussian":
        lines.append(f"m <- lmerTest::lmer(rate ~ {rhs} + {_random(a)}, data = d, REML = TRUE)")
        lines.append(f"X <- model.matrix(~ {rhs}, data = d)")
        for meth in methods:
            if meth in ("satterthwaite", "kenward-roger"):
                ddf = "Satterthwaite" if meth == "satterthwaite" else "Kenward-Roger"
                lines.append(f'co <- summary(m, ddf = "{ddf}")$coefficients')
                lines.append(
                    f'report({name}, "{meth}", "{term}", co["{term}", "Estimate"], '
                    f'co["{term}", "Std. Error"], co["{term}", "df"])'
                )
            else:
                df = "Inf" if meth == "wald-normal" else f'bw_df(X, d$unit)[["{term}"]]'
                lines.append(
                    f'report({name}, "{meth}", "{term}", fixef(m)[["{term}"]], '
                    f'sqrt(diag(as.matrix(vcov(m))))[["{term}"]], {df})'
                )
    elif methods:
        if a.family == "negative_binomial":
            lines.append(
                f"m <- glmmTMB(y ~ {rhs} + {_random(a)}{_offset(a)}, data = d, family = nbinom2)"
            )
            lines.append(
                f'est <- fixef(m)$cond[["{term}"]]; se <- sqrt(diag(vcov(m)$cond))[["{term}"]]'
            )
        else:
            ind = protocol.indicator(a.outcome)
            lhs = (
                f"cbind(y, {ind.denominator} - y)"
                if a.family == "binomial" and ind.denominator
                else "y"
            )
            lines.append(
                f"m <- glmer({lhs} ~ {rhs} + {_random(a)}{_offset(a)}, data = d, "
                f"family = {a.family}, nAGQ = {a.nagq})"
            )
            lines.append(
                f'est <- fixef(m)[["{term}"]]; se <- sqrt(diag(as.matrix(vcov(m))))[["{term}"]]'
            )
        lines.append(f"X <- model.matrix(~ {rhs}, data = d)")
        for meth in methods:
            df = "Inf" if meth == "wald-normal" else f'bw_df(X, d$unit)[["{term}"]]'
            lines.append(f'report({name}, "{meth}", "{term}", est, se, {df})')
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
