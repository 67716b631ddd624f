"""Run every analysis of a statistical analysis plan under each prespecified inference.

``run_sap`` builds each analysis' model frame (:mod:`analysis.sap.dataset`) and fits it
once per inference method the SAP lists (see :mod:`analysis.sap.methods`).

The ICC of each analysis' outcome: Gaussian -> one-way ANOVA ICC with Searle's interval;
counts -> latent-scale ICC of the Poisson random-intercept model with the analysis'
fixed terms and offset (Laplace; also for negative-binomial analyses, whose own ICC would
need a much slower profile), with a profile-likelihood interval; binomial -> latent-scale
logistic ICC. Analyses sharing outcome, model and quarters share one ICC computation.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import warnings as pywarnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analysis.errors import DataError
from analysis.families import family_info
from analysis.sap.dataset import AnalysisFrame, build_frame
from analysis.sap.methods import (
    GROUP,
    MethodContext,
    error_message,
    fit_errors,
    fit_method,
    model_formula,
)
from analysis.sap.results import AnalysisResult, IccSummary, SapResults
from protocols import Analysis, Protocol

__all__ = [
    "PACKAGES",
    "MethodContext",
    "one_blas_thread",
    "run_sap",
    "run_analysis",
    "fit_method",
    "model_formula",
    "package_versions",
    "fit_errors",
]

PACKAGES = ("numpy", "scipy", "pandas", "patsy", "rct")


def package_versions() -> dict[str, str]:
    """Versions of the packages the numbers depend on (recorded with every result)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def one_blas_thread() -> AbstractContextManager[object]:
    """BLAS limited to one thread while the models are fitted.

    The trial's models are small (tens to hundreds of rows, a few parameters): a BLAS call
    on them lasts microseconds, and OpenBLAS threads waking and spinning for each one cost
    more than the arithmetic. Measured on the demo's ``rct analyse run`` under load, the
    default two threads took twice the CPU time of one. Simulation workers (one process
    per core) use the same limit, so they do not compete with each other's BLAS threads.
    """
    # lazy: loads threadpoolctl (start-up time)
    from threadpoolctl import threadpool_limits

    limits: AbstractContextManager[object] = threadpool_limits(1, user_api="blas")
    return limits


def _icc_key(frame: AnalysisFrame, ctx: MethodContext) -> tuple[str, ...]:
    """What an ICC depends on: analyses with the same key share one computation."""
    a = frame.analysis
    family = family_info(family_info(a.family).icc_model_family).name
    return (a.outcome, family, model_formula(frame), a.periods, frame.offset or "", str(ctx.level))


def _icc(
    frame: AnalysisFrame, ctx: MethodContext, cache: dict[tuple[str, ...], IccSummary]
) -> IccSummary:
    a = frame.analysis
    formula = model_formula(frame)
    info = family_info(family_info(a.family).icc_model_family)
    family = info.name
    key = _icc_key(frame, ctx)
    if key in cache:
        return cache[key]
    # lazy: loads analysis.icc (start-up time)
    from analysis.icc import icc_anova, icc_latent

    with pywarnings.catch_warnings():
        pywarnings.simplefilter("ignore")  # the fits' own warnings are reported per method
        try:
            if info.mixed_model == "lmm":
                r = icc_anova(frame.data, frame.outcome, GROUP, level=ctx.level)
            else:
                r = icc_latent(
                    frame.data,
                    formula,
                    GROUP,
                    family=family,
                    offset=frame.offset,
                    trials=ctx.trials if info.trials else None,
                    nagq=1,
                    level=ctx.level,
                )
            method = r.method if info.mixed_model == "lmm" else f"{r.method}-{family}-laplace"
            out = IccSummary(r.icc, r.ci, r.level, method, r.scale)
        except fit_errors() as exc:
            out = IccSummary(error=error_message(exc))
    cache[key] = out
    return out


def _prepare(
    protocol: Protocol, analysis: Analysis, values: pd.DataFrame, ctx: MethodContext
) -> tuple[AnalysisFrame, MethodContext]:
    """The analysis' model frame, and the context its fits use (binomial trials set)."""
    frame = build_frame(protocol, values, ctx.arms, analysis)
    indicator = protocol.indicator(analysis.outcome)
    if family_info(analysis.family).trials and indicator.denominator:
        ctx = replace(ctx, trials=indicator.denominator)
    return frame, ctx


def run_analysis(
    protocol: Protocol,
    analysis: Analysis,
    values: pd.DataFrame,
    ctx: MethodContext,
    *,
    icc: bool = True,
    icc_cache: dict[tuple[str, ...], IccSummary] | None = None,
    post_hoc_reason: str = "",
) -> AnalysisResult:
    """One analysis under each of its inference methods, with the ICC of its outcome."""
    indicator = protocol.indicator(analysis.outcome)
    head = AnalysisResult(
        name=analysis.name,
        role=analysis.role,
        outcome=analysis.outcome,
        outcome_label=indicator.label,
        family=analysis.family,
        formula="",
        offset=analysis.offset,
        periods=analysis.periods,
        description=" ".join(analysis.description.split()),
        clusters=0,
        observations=0,
        missing_values=0,
        icc=None,
        methods=(),
        post_hoc=bool(post_hoc_reason),
        post_hoc_reason=post_hoc_reason,
        primary_inference=analysis.deciding_inference,
    )
    try:
        frame, ctx = _prepare(protocol, analysis, values, ctx)
    except fit_errors() as exc:
        return replace(head, error=error_message(exc))
    methods = tuple(fit_method(frame, m, ctx) for m in analysis.inference)
    icc_result = _icc(frame, ctx, icc_cache if icc_cache is not None else {}) if icc else None
    return replace(
        head,
        formula=model_formula(frame),
        clusters=len(frame.units),
        observations=len(frame.data),
        missing_values=frame.missing,
        icc=icc_result,
        methods=methods,
    )


@dataclass(frozen=True)
class _Job:
    """One SAP run's inputs, inherited by forked workers (a protocol holds mapping proxies,
    which do not pickle, so the workers get it by fork, not by message)."""

    protocol: Protocol
    values: pd.DataFrame
    ctx: MethodContext
    icc: bool
    marks: Mapping[str, str]
    todo: Sequence[Analysis]

    def run(
        self, i: int, cache: dict[tuple[str, ...], IccSummary], *, icc: bool | None = None
    ) -> AnalysisResult:
        """Analysis ``i`` under each of its methods (and its ICC unless ``icc`` is False)."""
        analysis = self.todo[i]
        return run_analysis(
            self.protocol,
            analysis,
            self.values,
            self.ctx,
            icc=self.icc if icc is None else icc,
            icc_cache=cache,
            post_hoc_reason=self.marks.get(analysis.name, ""),
        )

    def icc_key(self, i: int) -> tuple[str, ...] | None:
        """The key of analysis ``i``'s ICC (None when its frame cannot be built)."""
        try:
            frame, ctx = _prepare(self.protocol, self.todo[i], self.values, self.ctx)
        except fit_errors():
            return None
        return _icc_key(frame, ctx)

    def icc_of(self, i: int) -> IccSummary:
        """The ICC of analysis ``i``'s outcome, computed alone."""
        frame, ctx = _prepare(self.protocol, self.todo[i], self.values, self.ctx)
        return _icc(frame, ctx, {})


#: The model engines the methods load on first use (analysis.sap.methods, _icc).
ENGINES = (
    "analysis.cluster_level",
    "analysis.randomisation",
    "analysis.gee",
    "analysis.glmm",
    "analysis.lmm",
    "analysis.icc",
)


def load_engines() -> None:
    """Import every model engine the analyses may use, once: ``rct analyse run`` does it
    in a thread while the signing key is opened, and forked workers inherit them."""
    for engine in ENGINES:
        importlib.import_module(engine)


#: The job a forked worker runs (set in the parent just before the workers fork).
_FORKED_JOB: _Job | None = None


def _task(kind: str, i: int) -> tuple[str, int, AnalysisResult | IccSummary]:
    """In a worker: analysis ``i``'s fits (``"fit"``) or its outcome's ICC (``"icc"``)."""
    job = _FORKED_JOB
    assert job is not None, "a forked worker inherits the job"
    with one_blas_thread():
        if kind == "fit":
            return kind, i, job.run(i, {}, icc=False)
        return kind, i, job.icc_of(i)


def _run_forked(
    job: _Job, workers: int, progress: Callable[[str], None] | None
) -> list[AnalysisResult]:
    """Every analysis of ``job`` over ``workers`` forked processes: one task per analysis'
    fits and one per distinct ICC (analyses sharing an ICC key share its computation, as
    in one process); the results are put together in the analyses' order."""
    global _FORKED_JOB
    keys = {i: job.icc_key(i) for i in range(len(job.todo))} if job.icc else {}
    first: dict[tuple[str, ...], int] = {}
    for i, key in keys.items():
        if key is not None:
            first.setdefault(key, i)
    fits: dict[int, AnalysisResult] = {}
    iccs: dict[int, IccSummary] = {}
    load_engines()  # loaded once here, not once per worker: the workers inherit them
    _FORKED_JOB = job
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
            # the ICC profiles are the longest tasks: they start first
            tasks = [("icc", i) for i in first.values()]
            tasks += [("fit", i) for i in range(len(job.todo))]
            futures = [pool.submit(_task, kind, i) for kind, i in tasks]
            for future in as_completed(futures):
                kind, i, value = future.result()
                if kind == "fit":
                    assert isinstance(value, AnalysisResult)
                    fits[i] = value
                    if progress is not None:
                        progress(job.todo[i].name)
                else:
                    assert isinstance(value, IccSummary)
                    iccs[i] = value
    finally:
        _FORKED_JOB = None
    results = []
    for i in range(len(job.todo)):
        key = keys.get(i)
        if key is None or fits[i].error:
            results.append(fits[i])
        else:
            results.append(replace(fits[i], icc=iccs[first[key]]))
    return results


def _check_run(protocol: Protocol, arms: Mapping[str, str], level: float) -> None:
    """Refuse, as a whole, a run whose inputs no real trial could give (DataError).

    * Arms with other sizes than the protocol allocates (1 intervention borough of 7
      where the protocol allocates 3): not the revealed allocation, whatever the data.
      Each method then ran on it (the GEE failing with "Singular matrix").
    * A protocol with no canonical form (a NaN covariate): the results record its
      fingerprint, which raised ``CanonicalFormError`` after every fit had run.

    * A confidence level outside (0, 1): the methods' intervals came out NaN (each method
      then reported "no finite confidence interval"), the ANOVA ICC stored an interval
      that misses its estimate, and a NaN level raised a ``TypeError``.

    Found by tests/analysis/test_sap_hostile.py.
    """
    if not (isinstance(level, int | float) and 0.0 < level < 1.0):
        raise DataError(f"the confidence level must be between 0 and 1, not {level!r}")
    sizes = dict(protocol.allocation.arm_sizes)
    if sizes and set(arms) == {u.id for u in protocol.units}:
        given = {code: sum(1 for a in arms.values() if a == code) for code in sizes}
        if given != sizes and set(arms.values()) <= set(sizes):
            wanted = ", ".join(f"{n} {code}" for code, n in sorted(sizes.items()))
            found = ", ".join(f"{n} {code}" for code, n in sorted(given.items()))
            raise DataError(
                f"the arms give {found} units, but the protocol allocates {wanted}: this is "
                "not the trial's allocation"
            )
    try:
        protocol.fingerprint()
    except ValueError as exc:  # CanonicalFormError: NaN, infinity, a set, ...
        raise DataError(f"the protocol cannot be fingerprinted: {exc}") from exc


def run_sap(
    protocol: Protocol,
    values: pd.DataFrame,
    arms: Mapping[str, str],
    schemes: NDArray[np.int_] | None = None,
    scheme_units: Sequence[str] | None = None,
    *,
    post_hoc: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    level: float = 0.95,
    icc: bool = True,
    randomisation_ci: bool = True,
    progress: Callable[[str], None] | None = None,
    workers: int = 1,
) -> SapResults:
    """Run every analysis of ``protocol``'s SAP on ``values``.

    Parameters
    ----------
    protocol : Protocol
        The locked protocol (its analyses, units, schedule and indicators).
    values : pandas.DataFrame
        Long form ``unit, period, indicator, value`` (NaN = missing).
    arms : mapping
        Unit id -> arm code of the revealed allocation.
    schemes : ndarray (n_schemes, n_units) of 0/1, optional
        The admissible scheme space (1 = intervention), needed by ``randomisation``.
    scheme_units : sequence of str, optional
        Unit ids of the columns of ``schemes`` (default: sorted unit ids).
    post_hoc : mapping, optional
        Analysis name -> why it is post hoc (e.g. added after data were first visible);
        these analyses are labelled post hoc in the results.
    provenance : mapping, optional
        Recorded with the results: e.g. ``data_snapshot_hash``, ``allocation_commitment``,
        ``protocol_version``. The protocol fingerprint and package versions are added here.
    level : float
        Confidence level of every interval.
    icc : bool
        Whether to estimate the ICC of each outcome (profile-likelihood intervals take a
        second or two per outcome).
    randomisation_ci : bool
        Whether randomisation tests invert for a confidence interval.
    progress : callable, optional
        Called with each analysis' name before it runs (with ``workers > 1``: as its
        result comes back).
    workers : int
        Processes fitting analyses at once (default 1). Analyses that share an outcome
        run in one process, so they still share its ICC; the results are identical
        whatever the number, because each analysis is computed alone from the same
        inputs. Where the platform cannot fork, analyses run in this process.

    Returns
    -------
    SapResults
    """
    _check_run(protocol, arms, level)
    ctx = MethodContext(
        arms=dict(arms),
        intervention_arm=protocol.allocation.intervention_arm,
        schemes=None if schemes is None else np.asarray(schemes),
        scheme_units=tuple(scheme_units) if scheme_units is not None else None,
        level=level,
        randomisation_ci=randomisation_ci,
    )
    marks = dict(post_hoc or {})
    order = {"primary": 0, "secondary": 1, "sensitivity": 2}
    todo = sorted(protocol.analyses, key=lambda a: (order.get(a.role, 9), a.name))
    job = _Job(protocol, values, ctx, icc, marks, todo)
    with one_blas_thread():
        results: list[AnalysisResult] | None = None
        if workers > 1 and len(todo) > 1 and "fork" in mp.get_all_start_methods():
            try:
                results = _run_forked(job, workers, progress)
            except BrokenProcessPool:
                # a worker died (killed, out of memory): the same analyses, in this process,
                # give the same bytes
                results = None
        if results is None:
            cache: dict[tuple[str, ...], IccSummary] = {}
            results = []
            for i, analysis in enumerate(todo):
                if progress is not None:
                    progress(analysis.name)
                results.append(job.run(i, cache))
    prov = {
        "protocol_fingerprint": protocol.fingerprint(),
        "packages": package_versions(),
        **dict(provenance or {}),
    }
    trial = {
        "id": protocol.trial.id,
        "title": protocol.trial.title,
        "version": protocol.trial.version,
    }
    return SapResults(trial, prov, tuple(results), level)
