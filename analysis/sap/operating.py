"""The one simulation engine: a SAP's operating characteristics (``rct design check``).

For each scenario (:mod:`analysis.sap.scenarios`) and each simulation index the engine
draws one allocation uniformly from the protocol's admissible scheme space, simulates the
trial's quarterly returns (:func:`analysis.sap.simulate.simulate_values`), removes the
scenario's missing returns and runs the chosen analyses under their inference methods
with :func:`analysis.sap.runner.run_analysis`: the very code ``rct analyse run`` uses, so
what is checked is what will be run. ``rct design power`` is a view of the same engine
(one analysis, one method, one scenario).

Determinism. Simulation ``i`` of scenario ``s`` takes its randomness from
``numpy.random.SeedSequence(seed, spawn_key=(int(s.key, 16), i))`` and nothing else, so
its result does not depend on which worker runs it, in which order, or how many workers
there are; results are put back in (scenario, index) order before anything is summed.
Workers are local processes (:class:`concurrent.futures.ProcessPoolExecutor`) or, with
``scheduler``, the workers of a Dask distributed cluster; the work sent to either is the
same picklable function of plain data.

Interruption and resumption. Each finished simulation is handed to ``on_record`` as soon
as it arrives (the CLI appends it to a checkpoint file); ``done`` passes the records of an
earlier, interrupted run back in and those simulations are not run again. A record is
keyed by (scenario key, index), and the run as a whole by :func:`run_key` (the parts
of the protocol the simulations depend on: units, schedule, indicators, arms and the
chosen analyses' model definitions; the scheme space, seed, methods and level), so records
of another run are never mixed in, while editing a description or another analysis keeps
a checkpoint usable.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analysis.errors import ModelSpecificationError
from analysis.sap.runner import MethodContext, one_blas_thread, run_analysis
from analysis.sap.scenarios import Scenario, apply_missing
from analysis.sap.simulate import simulate_values
from protocols import Protocol, protocol_from_data

__all__ = [
    "Selection",
    "SimulationRecord",
    "OperatingPlan",
    "run_key",
    "simulate_one",
    "run_simulations",
    "default_workers",
]

#: (analysis name, inference methods to run) pairs.
Selection = tuple[tuple[str, tuple[str, ...]], ...]
#: What one method gave on one simulated trial:
#: (analysis, method, ok, p-value, coefficient, CI lower, CI upper, warnings, error).
MethodOutcome = tuple[str, str, bool, float, float, float, float, int, str]


@dataclass(frozen=True)
class SimulationRecord:
    """The outcome of every selected analysis x method on one simulated trial."""

    scenario: str  # scenario key
    index: int
    outcomes: tuple[MethodOutcome, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "index": self.index, "outcomes": self.outcomes}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SimulationRecord:
        outs = tuple(
            (
                str(o[0]),
                str(o[1]),
                bool(o[2]),
                _float(o[3]),
                _float(o[4]),
                _float(o[5]),
                _float(o[6]),
                int(o[7]),
                str(o[8]),
            )
            for o in d["outcomes"]
        )
        return cls(str(d["scenario"]), int(d["index"]), outs)


def _float(x: Any) -> float:
    return float("nan") if x is None else float(x)


@dataclass(frozen=True)
class OperatingPlan:
    """Everything a worker needs, as plain picklable data.

    ``protocol_data`` is the protocol's canonical form (its objects hold read-only
    mappings that do not pickle); workers rebuild the protocol from it once.
    """

    protocol_data: Mapping[str, Any]
    selection: Selection
    schemes: NDArray[np.int_]
    scheme_units: tuple[str, ...]
    scenarios: tuple[Scenario, ...]
    seed: int
    level: float = 0.95

    @classmethod
    def build(
        cls,
        protocol: Protocol,
        scenarios: Sequence[Scenario],
        schemes: NDArray[np.int_],
        scheme_units: Sequence[str],
        *,
        selection: Selection | None = None,
        seed: int = 1,
        level: float = 0.95,
    ) -> OperatingPlan:
        """Check the inputs and build the plan (default selection: every analysis and method)."""
        if not scenarios:
            raise ModelSpecificationError("give at least one scenario")
        keys = [s.key for s in scenarios]
        if len(set(keys)) != len(keys) or len({s.name for s in scenarios}) != len(keys):
            raise ModelSpecificationError("scenarios must differ in name and in content")
        space = np.asarray(schemes, dtype=np.int64)
        units = tuple(scheme_units)
        if space.ndim != 2 or space.shape[1] != len(units) or len(space) == 0:
            raise ModelSpecificationError("the scheme space must be a non-empty 0/1 matrix")
        if set(units) != {u.id for u in protocol.units}:
            raise ModelSpecificationError("the scheme space's units are not the protocol's")
        sel = selection or tuple((a.name, a.inference) for a in protocol.analyses)
        for name, methods in sel:
            try:
                protocol.analysis(name)
            except KeyError:
                raise ModelSpecificationError(f"the protocol has no analysis {name!r}") from None
            if not methods:
                raise ModelSpecificationError(f"analysis {name!r}: no inference method chosen")
        return cls(protocol.canonical(), tuple(sel), space, units, tuple(scenarios), seed, level)

    def protocol(self) -> Protocol:
        return _protocol(json.dumps(self.protocol_data, sort_keys=True))


@lru_cache(maxsize=4)
def _protocol(text: str) -> Protocol:
    return protocol_from_data(json.loads(text), "design check")


def run_key(plan: OperatingPlan) -> str:
    """What a checkpoint's records must share to be reused (see the module docstring)."""
    data = plan.protocol_data
    chosen = {name for name, _ in plan.selection}
    simulated = {
        # what the simulations depend on: not the trial's texts or the other analyses
        "units": data["units"],
        "schedule": data["schedule"],
        "indicators": data["indicators"],
        "arms": data["arms"],
        "intervention_arm": data["allocation"]["intervention_arm"],
        "analyses": [
            {
                k: v
                for k, v in a.items()
                if k not in ("description", "role", "primary_inference", "inference")
            }
            for a in data["analyses"]
            if a["name"] in chosen
        ],
    }
    text = json.dumps(
        {
            "protocol": simulated,
            "schemes": plan.schemes.tolist(),
            "units": list(plan.scheme_units),
            "selection": sorted([a, sorted(m)] for a, m in plan.selection),
            "seed": plan.seed,
            "level": plan.level,
            "engine": 1,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _arm_codes(protocol: Protocol) -> tuple[str, str]:
    intervention = protocol.allocation.intervention_arm
    others = [c for c in protocol.arm_codes if c != intervention]
    if not others:
        raise ModelSpecificationError("the protocol needs a control arm")
    return intervention, others[0]


def simulate_one(plan: OperatingPlan, scenario_index: int, index: int) -> SimulationRecord:
    """Simulate trial ``index`` of scenario ``scenario_index`` and run the selection on it."""
    protocol = plan.protocol()
    scenario = plan.scenarios[scenario_index]
    rng = np.random.default_rng(
        np.random.SeedSequence(plan.seed, spawn_key=(int(scenario.key, 16), index))
    )
    intervention, control = _arm_codes(protocol)
    row = plan.schemes[int(rng.integers(len(plan.schemes)))]
    arms = {u: (intervention if x else control) for u, x in zip(plan.scheme_units, row)}
    outcomes = sorted({protocol.analysis(a).outcome for a, _ in plan.selection})
    values = simulate_values(
        protocol,
        arms,
        seed=int(rng.integers(2**62)),
        settings=scenario.settings,
        indicators=outcomes,
    )
    follow_up = [str(q) for q in protocol.schedule.follow_up]
    values = apply_missing(values, scenario, follow_up, rng)
    ctx = MethodContext(
        arms=arms,
        intervention_arm=intervention,
        schemes=plan.schemes,
        scheme_units=plan.scheme_units,
        level=plan.level,
        randomisation_ci=False,
    )
    out: list[MethodOutcome] = []
    for name, methods in plan.selection:
        analysis = replace(protocol.analysis(name), inference=methods)
        result = run_analysis(protocol, analysis, values, ctx, icc=False)
        if result.error:
            nan = float("nan")
            out += [(name, m, False, nan, nan, nan, nan, 0, result.error) for m in methods]
            continue
        for m in result.methods:
            lo, hi = m.coefficient_ci
            out.append(
                (
                    name,
                    m.method,
                    m.ok,
                    float(m.pvalue),
                    float(m.coefficient),
                    float(lo),
                    float(hi),
                    len(m.warnings),
                    m.error,
                )
            )
    return SimulationRecord(scenario.key, index, tuple(out))


def run_chunk(plan: OperatingPlan, tasks: Sequence[tuple[int, int]]) -> list[SimulationRecord]:
    """Run a list of (scenario index, simulation index) tasks: the unit of work of a worker."""
    with one_blas_thread():
        return _run_tasks(plan, tasks)


def _run_tasks(plan: OperatingPlan, tasks: Sequence[tuple[int, int]]) -> list[SimulationRecord]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # each fit records its own warnings
        return [simulate_one(plan, s, i) for s, i in tasks]


def default_workers() -> int:
    """All the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _chunks(tasks: list[tuple[int, int]], workers: int) -> list[list[tuple[int, int]]]:
    size = max(1, min(8, len(tasks) // (4 * max(workers, 1)) or 1))
    return [tasks[i : i + size] for i in range(0, len(tasks), size)]


def run_simulations(
    plan: OperatingPlan,
    simulations: int,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    done: Mapping[tuple[str, int], SimulationRecord] | None = None,
    on_record: Callable[[SimulationRecord], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[SimulationRecord]:
    """Run ``simulations`` simulated trials per scenario; records in (scenario, index) order.

    Parameters
    ----------
    plan : OperatingPlan
    simulations : int
        Simulated trials per scenario.
    workers : int, optional
        Local worker processes (default: all cores); 1 runs in this process.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``); the simulations run
        on its workers instead of local processes.
    done : mapping, optional
        Records of an earlier run of the same plan (see :func:`run_key`), keyed by
        (scenario key, index): not run again.
    on_record : callable, optional
        Called with each newly finished record, as soon as it arrives.
    progress : callable, optional
        Called with the number of simulations finished since the last call.
    """
    if simulations < 1:
        raise ModelSpecificationError("simulations must be at least 1")
    n_workers = workers if workers is not None else default_workers()
    if n_workers < 1:
        raise ModelSpecificationError("workers must be at least 1")
    have = dict(done or {})
    # index-major: an interrupted run has about as many trials in every scenario, and a
    # rerun with fewer simulations can reuse them all
    tasks = [
        (s, i)
        for i in range(simulations)
        for s, scen in enumerate(plan.scenarios)
        if (scen.key, i) not in have
    ]
    if progress is not None and len(have):
        wanted = {(s.key, i) for s in plan.scenarios for i in range(simulations)}
        progress(len(wanted & set(have)))
    results = {k: have[k] for k in have}

    def take(records: Iterable[SimulationRecord]) -> None:
        n = 0
        for r in records:
            results[(r.scenario, r.index)] = r
            if on_record is not None:
                on_record(r)
            n += 1
        if progress is not None and n:
            progress(n)

    if tasks:
        if scheduler is not None:
            _run_dask(plan, tasks, scheduler, take)
        elif n_workers == 1:
            with one_blas_thread():  # once: setting the limit costs milliseconds
                for t in tasks:
                    take(_run_tasks(plan, [t]))
        else:
            _run_pool(plan, tasks, n_workers, take)
    return [results[(s.key, i)] for s in plan.scenarios for i in range(simulations)]


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the parent, which cancels the rest and keeps what is done."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_pool(
    plan: OperatingPlan,
    tasks: list[tuple[int, int]],
    workers: int,
    take: Callable[[Iterable[SimulationRecord]], None],
) -> None:
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_interrupts)
    try:
        pending: set[Future[list[SimulationRecord]]] = {
            pool.submit(run_chunk, plan, c) for c in _chunks(tasks, workers)
        }
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                take(f.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_dask(
    plan: OperatingPlan,
    tasks: list[tuple[int, int]],
    scheduler: str,
    take: Callable[[Iterable[SimulationRecord]], None],
) -> None:
    try:
        # lazy: optional dependency distributed (extra 'distributed')
        from distributed import Client, as_completed
    except ImportError:
        raise ModelSpecificationError(
            "a Dask scheduler was given but Dask distributed is not installed: "
            "pip install 'rct[distributed]'"
        ) from None
    try:
        client = Client(scheduler, timeout="10s")  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise ModelSpecificationError(
            f"cannot reach the Dask scheduler at {scheduler}: {exc}"
        ) from None
    try:
        n = max(1, len(client.scheduler_info().get("workers", {})))
        futures = [client.submit(run_chunk, plan, c, pure=False) for c in _chunks(tasks, n)]
        try:
            for f in as_completed(futures):  # type: ignore[no-untyped-call]
                take(f.result())
        except BaseException:
            client.cancel(futures)  # type: ignore[no-untyped-call]
            raise
    finally:
        client.close()  # type: ignore[no-untyped-call]
