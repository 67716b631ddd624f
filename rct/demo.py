"""``rct demo``: the whole trial flow on the shipped protocol, in a fresh directory.

Each step is a plain function over the library and services, run in order with its output
location printed, so the demo doubles as an executable walk-through of a real trial:

1. init the trial database, register users (an admin, a statistician, an evaluator and
   one data manager per borough), lock the protocol;
2. each borough's data manager submits its baseline returns (simulated, see below);
3. the statistician reviews the randomisation diagnostics, seals, and reveals;
4. the data managers submit the follow-up returns; two boroughs have not yet sent their
   last quarter, and one amends a figure with a reason;
5. completeness as of the demo's fixed date, the prespecified analyses, the report, the
   evaluator's bundle and its independent reproduction;
6. the published 2023-2025 partnership data are loaded into a separate demonstration
   trial (the six partnership boroughs), whose completeness shows the real gaps.

The trial's own returns are simulated by :func:`analysis.sap.simulate.simulate_values`
(one seed, the demo seed -- ``SIMULATION_SEED`` unless ``rct demo --seed N`` gives
another -- for baseline and follow-up: the simulator draws every
random number by inversion in a fixed order, so the baseline values do not depend on the
arms and are the same before and after reveal) with its documented defaults: rates per
10,000 children of the order of the published partnership data, between-borough SD 0.25
on the log scale, Poisson-lognormal noise, and true rate ratios of 0.67 for re-referrals,
0.5 for children taken into care and 0.85 otherwise. The seven boroughs are the protocol's
illustrative placeholders: none of these numbers is trial data.

The allocation seed is derived from the demo seed too (SHA-256 of a label and the seed),
so the same demo seed gives the same allocation and the same numbers; a real trial's seed
comes from the operating system (``rct allocate seal``). The demo prints its seed and the
users it registered, so the guides can be followed on its database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rct.errors import InputError

__all__ = ["DemoContext", "STEPS", "echo_users", "run_demo"]

ADMIN, STATISTICIAN, EVALUATOR = "demo-admin", "demo-statistician", "demo-evaluator"
DEMO_PASSPHRASE = "demo passphrase: never use for a real trial"
SIMULATION_SEED = 20261123
AS_OF = dt.date(2028, 6, 30)
LATE_BOROUGHS = 2


@dataclass
class DemoContext:
    """Where the demo works and what it has produced so far."""

    directory: Path
    seed: int = SIMULATION_SEED
    outputs: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.directory / 'rct.db'}"

    @property
    def allocation_seed(self) -> bytes:
        """The 256-bit allocation seed this demo seed stands for (demo only)."""
        return hashlib.sha256(f"rct demo allocation seed {self.seed}".encode()).digest()

    @property
    def keys(self) -> Any:
        """The demo users' signing keys, in the demo directory under the demo passphrase."""
        # lazy: loads cryptography (start-up time)
        from rct.keys import KeyStore

        if "keys" not in self.facts:
            self.facts["keys"] = KeyStore(self.directory / "keys", lambda _user: DEMO_PASSPHRASE)
        return self.facts["keys"]

    def workspace(self, user: str) -> Any:
        # lazy: loads sqlalchemy (start-up time)
        from rct.workspace import Workspace

        return Workspace(self.url, user, keys=self.keys)


def _protocol(ctx: DemoContext) -> Any:
    # lazy: loads sqlalchemy (start-up time)
    from rct.services.protocol import current_protocol

    ws = ctx.workspace(STATISTICIAN)
    try:
        return current_protocol(ws).protocol
    finally:
        ws.close()


def _init(ctx: DemoContext) -> str:
    # lazy: loads sqlalchemy, cryptography (start-up time)
    from protocols import load_protocol, shipped_protocol_path
    from rct import protocols as store
    from rct.initialise import initialise
    from rct.users import add_user

    path = shipped_protocol_path()
    protocol = load_protocol(path)
    people = [STATISTICIAN, EVALUATOR, *(f"dm-{u.id}" for u in protocol.units)]
    for name in people:  # each person makes their own key ('rct key create')
        ctx.keys.create(name)
    result = initialise(ctx.url, ADMIN, protocol, str(path), ctx.keys)
    ctx.facts["genesis"] = result.genesis_fingerprint
    ws = ctx.workspace(ADMIN)
    try:
        add_user(ws, STATISTICIAN, "statistician")
        add_user(ws, EVALUATOR, "evaluator")
        for u in protocol.units:
            add_user(ws, f"dm-{u.id}", "data-manager", u.id)
    finally:
        ws.close()
    ctx.facts["users"] = [
        (ADMIN, "admin", ""),
        (STATISTICIAN, "statistician", ""),
        (EVALUATOR, "evaluator", ""),
        *[(f"dm-{u.id}", "data-manager", u.id) for u in protocol.units],
    ]
    ws = ctx.workspace(STATISTICIAN)
    try:
        sp = store.lock(ws)
    finally:
        ws.close()
    ctx.outputs["database"] = str(ctx.directory / "rct.db")
    ctx.outputs["signing keys"] = str(ctx.keys.directory)
    return (
        f"protocol {result.protocol.protocol.trial.id} locked (fingerprint "
        f"{sp.fingerprint[:16]}...); {len(protocol.units) + 3} users, each with a signing "
        f"key (genesis key {str(result.genesis_fingerprint)[:16]}...)"
    )


def _write_return(path: Path, rows: list[tuple[str, str, str, float]]) -> None:
    lines = ["borough,period,indicator,value"]
    lines += [f"{b},{p},{i},{int(v)}" for b, p, i, v in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _submit_by_borough(ctx: DemoContext, values: Any, stem: str) -> tuple[int, int]:
    """Write each borough's return file and submit it as that borough's data manager."""
    # lazy: loads numpy, sqlalchemy (start-up time)
    from rct.capture.submit import submit_return

    folder = ctx.directory / "returns"
    folder.mkdir(exist_ok=True)
    files = cells = 0
    for unit, frame in values.groupby("unit", sort=True):
        frame = frame.dropna(subset=["value"])
        rows = list(
            frame[["unit", "period", "indicator", "value"]].itertuples(index=False, name=None)
        )
        path = folder / f"{unit}-{stem}.csv"
        _write_return(path, rows)
        ws = ctx.workspace(f"dm-{unit}")
        try:
            result = submit_return(ws, path)
        finally:
            ws.close()
        files += 1
        cells += result.new_cells
    ctx.outputs["borough returns"] = str(folder)
    return files, cells


def _baseline_returns(ctx: DemoContext) -> str:
    # lazy: loads pandas, numpy, scipy (start-up time)
    from analysis.sap.simulate import simulate_values

    p = _protocol(ctx)
    placeholder_arms = {
        u.id: p.allocation.intervention_arm for u in p.units
    }  # no effect at baseline
    values = simulate_values(
        p, placeholder_arms, seed=ctx.seed, quarters=[str(q) for q in p.schedule.baseline]
    )
    files, cells = _submit_by_borough(ctx, values, "baseline")
    return f"{files} boroughs' data managers submitted {cells} baseline cells (simulated)"


def _plan(ctx: DemoContext) -> str:
    # lazy: loads pandas, numpy (start-up time)
    from allocation import build_scheme_space, diagnose
    from rct.allocation.design import design_from_protocol, units_frame

    protocol = _protocol(ctx)
    units, design = units_frame(protocol), design_from_protocol(protocol)
    diag = diagnose(build_scheme_space(units, design), units, design)
    out = ctx.directory / "allocation-plan.json"
    out.write_text(json.dumps(diag.to_dict(), indent=2, sort_keys=True), encoding="utf-8")
    ctx.outputs["randomisation plan"] = str(out)
    warn = f"; {len(diag.warnings)} warning(s)" if diag.warnings else "; no warnings"
    return (
        f"{diag.admissible} of {diag.total} schemes admissible, smallest attainable "
        f"p = {diag.min_p_value:.3f}{warn}"
    )


def _seal(ctx: DemoContext) -> str:
    # lazy: loads sqlalchemy (start-up time)
    from rct.allocation.sealing import seal

    ws = ctx.workspace(STATISTICIAN)
    try:
        result = seal(
            ws,
            DEMO_PASSPHRASE,
            ctx.directory / "allocation-envelope.json",
            demo_seed=ctx.allocation_seed,
        )
        checkpoint = ws.last_checkpoint
    finally:
        ws.close()
    ctx.outputs["sealed envelope"] = str(result.envelope_path)
    ctx.outputs["checkpoint at seal"] = str(checkpoint.path)
    ctx.facts["published"] = (checkpoint.document, result.commitment)
    return (
        f"allocation #{result.id} sealed; commitment {result.commitment[:16]}...; signed "
        f"checkpoint at event {checkpoint.document['seq']}"
    )


def _reveal(ctx: DemoContext) -> str:
    # lazy: loads sqlalchemy (start-up time)
    from rct.allocation.sealing import reveal

    ws = ctx.workspace(STATISTICIAN)
    try:
        row = reveal(ws, DEMO_PASSPHRASE)
    finally:
        ws.close()
    arms = json.loads(row.arms or "{}")
    ctx.facts["arms"] = arms
    treated = sorted(u for u, a in arms.items() if a == "intervention")
    return f"commitment checked; intervention: {', '.join(treated)}"


def _verify_allocation(ctx: DemoContext) -> str:
    # lazy: loads sqlalchemy (start-up time)
    from rct.allocation.certificate import render_certificate
    from rct.allocation.sealing import verify_current

    ws = ctx.workspace(EVALUATOR)
    try:
        checks, cert = verify_current(ws)
    finally:
        ws.close()
    out = ctx.directory / "allocation-certificate.md"
    out.write_text(render_certificate(cert, checks) + "\n", encoding="utf-8")
    ctx.outputs["allocation certificate"] = str(out)
    failed = [c.name for c in checks if not c.ok]
    if failed:
        raise InputError(f"demo allocation failed verification: {', '.join(failed)}")
    return f"PASS ({len(checks)} checks, as the evaluator)"


def _follow_up_returns(ctx: DemoContext) -> str:
    # lazy: loads pandas, numpy, scipy, sqlalchemy (start-up time)
    from analysis.sap.simulate import simulate_values
    from rct.capture.submit import submit_return

    p = _protocol(ctx)
    quarters = [str(q) for q in (*p.schedule.transition_quarters(), *p.schedule.follow_up)]
    values = simulate_values(p, ctx.facts["arms"], seed=ctx.seed, quarters=quarters)
    last = str(p.schedule.follow_up_end)
    late = sorted(u.id for u in p.units)[-LATE_BOROUGHS:]
    values = values[~((values["period"] == last) & values["unit"].isin(late))]
    files, cells = _submit_by_borough(ctx, values, "follow-up")
    # A data manager corrects one figure, with a reason: a new version, the old one kept.
    unit = sorted(u.id for u in p.units)[0]
    row = values[(values["unit"] == unit) & (values["indicator"] == "da_re_referrals")].iloc[0]
    path = ctx.directory / "returns" / f"{unit}-amendment.csv"
    _write_return(path, [(unit, row["period"], "da_re_referrals", row["value"] + 3)])
    ws = ctx.workspace(f"dm-{unit}")
    try:
        submit_return(ws, path, reason="recount after case audit: three re-referrals missed")
    finally:
        ws.close()
    return (
        f"{cells} follow-up cells from {files} boroughs (simulated); {', '.join(late)} "
        f"have not sent {last}; {unit} amended one figure with a reason"
    )


def _completeness(ctx: DemoContext) -> str:
    # lazy: loads sqlalchemy (start-up time)
    from rct.capture.completeness import completeness
    from rct.capture.completeness_render import render_html

    ws = ctx.workspace(STATISTICIAN)
    try:
        matrix = completeness(ws, as_of=AS_OF)
    finally:
        ws.close()
    out = ctx.directory / "completeness.html"
    out.write_text(render_html(matrix, "Completeness of returns (demo trial)"), encoding="utf-8")
    ctx.outputs["completeness heatmap"] = str(out)
    t = matrix.totals
    return (
        f"as of {AS_OF}: {t['received'] + t['amended'] + t['queried']} cells received "
        f"({t['amended']} amended, {t['queried']} queried), {t['overdue']} overdue in "
        f"{len(matrix.overdue())} late returns"
    )


def _analyse(ctx: DemoContext) -> str:
    # lazy: loads pandas, numpy, scipy, sqlalchemy (start-up time)
    from rct import analyses

    ws = ctx.workspace(STATISTICIAN)
    try:
        stored = analyses.run(ws, workers=os.cpu_count() or 1)  # as 'rct analyse run'
    finally:
        ws.close()
    out = ctx.directory / "results"
    out.mkdir(exist_ok=True)
    (out / "results.json").write_text(stored.results_json, encoding="utf-8")
    (out / "results.md").write_text(stored.markdown, encoding="utf-8")
    ctx.outputs["analysis results"] = str(out / "results.md")
    results = stored.results
    # lazy: loads pandas, numpy, scipy (start-up time)
    from analysis.sap.summary import primary_first

    primary = next(a for a in results.analyses if a.role == "primary")
    lines = []
    for lead, m in primary_first(primary):  # the primary inference first, then supportive
        if m.ok:
            label = f"PRIMARY {m.method}" if lead else f"supportive {m.method}"
            lo, hi = m.effect_ci
            lines.append(
                f"{label} RR {m.effect:.2f} ({lo:.2f}-{hi:.2f}), p={m.pvalue:.3f}"
                if math.isfinite(hi)  # an unbounded upper limit is stored as null
                else f"{label} RR {m.effect:.2f}, p={m.pvalue:.3f}"
            )
    failed = sum(not m.ok for a in results.analyses for m in a.methods)
    return (
        f"{len(results.analyses)} analyses; primary ({primary.outcome}): "
        + "; ".join(lines)
        + (f"; {failed} method(s) failed, reported in the results" if failed else "")
    )


def _report(ctx: DemoContext) -> str:
    # lazy: loads sqlalchemy, cryptography (start-up time)
    from rct.report.gather import gather_report
    from rct.report.html import render_report

    ws = ctx.workspace(STATISTICIAN)
    try:
        page = render_report(gather_report(ws, as_of=AS_OF))
    finally:
        ws.close()
    out = ctx.directory / "trial-report.html"
    out.write_text(page, encoding="utf-8")
    ctx.outputs["trial report"] = str(out)
    return f"self-contained HTML, {len(page) // 1024} KiB"


def _bundle(ctx: DemoContext) -> str:
    # lazy: loads sqlalchemy, cryptography (start-up time)
    from rct.evaluation.bundle import export_bundle

    ws = ctx.workspace(EVALUATOR)
    try:
        result = export_bundle(ws, ctx.directory / "bundle")
    finally:
        ws.close()
    ctx.outputs["evaluator bundle"] = str(result.directory)
    return f"{len(result.files)} files, data snapshot {result.snapshot_hash[:16]}..."


def _reproduce(ctx: DemoContext) -> str:
    # lazy: loads sqlalchemy (start-up time)
    from rct.evaluation.bundle_trust import Anchors
    from rct.evaluation.reproduce import reproduce

    # against what was published outside the bundle: the checkpoint and commitment at seal
    checkpoint, commitment = ctx.facts["published"]
    anchors = Anchors((checkpoint,), commitment, ctx.facts["genesis"])
    checks = reproduce(ctx.directory / "bundle", anchors=anchors)
    failed = [f"{c.name}: {c.detail}" for c in checks if not c.ok]
    if failed:
        raise InputError("demo bundle failed to reproduce: " + "; ".join(failed))
    return (
        f"PASS: {len(checks)} independent checks, against the checkpoint and commitment "
        "published at seal (as an evaluator would run 'rct reproduce --checkpoint')"
    )


def _published_example(ctx: DemoContext) -> str:
    # lazy: loads sqlalchemy, numpy, cryptography (start-up time)
    from rct.capture.completeness import completeness
    from rct.capture.completeness_render import render_html
    from rct.capture.example import load_example
    from rct.workspace import Workspace

    url = f"sqlite:///{ctx.directory / 'partnership-example.db'}"
    load_example(url, ADMIN, ctx.keys)
    ws = Workspace(url, ADMIN, keys=ctx.keys)
    try:
        matrix = completeness(ws, as_of=dt.date(2025, 6, 30))
    finally:
        ws.close()
    out = ctx.directory / "partnership-completeness.html"
    out.write_text(
        render_html(matrix, "Published partnership indicators 2023-2025: completeness"),
        encoding="utf-8",
    )
    ctx.outputs["published data completeness"] = str(out)
    return (
        f"published 2023-2025 data for six partnership boroughs: {matrix.totals['overdue']} "
        f"cells never returned, across {len(matrix.overdue())} borough-quarters"
    )


STEPS: list[tuple[str, Callable[[DemoContext], str]]] = [
    ("init and lock protocol", _init),
    ("baseline returns", _baseline_returns),
    ("randomisation diagnostics", _plan),
    ("seal allocation", _seal),
    ("reveal allocation", _reveal),
    ("verify allocation", _verify_allocation),
    ("follow-up returns", _follow_up_returns),
    ("completeness", _completeness),
    ("prespecified analyses", _analyse),
    ("trial report", _report),
    ("evaluator bundle", _bundle),
    ("independent reproduction", _reproduce),
    ("published partnership data", _published_example),
]


def run_demo(
    directory: Path, echo: Callable[[str], None] = print, seed: int = SIMULATION_SEED
) -> DemoContext:
    """Run every step in ``directory`` (which must be new or empty) with the demo ``seed``."""
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        raise InputError(f"{directory} is not empty; give the demo a new directory")
    directory.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(directory, seed=seed)
    echo(f"Demo seed {seed}: 'rct demo --seed {seed}' gives the same allocation and numbers.")
    for i, (name, step) in enumerate(STEPS, 1):
        echo(f"[{i:>2}/{len(STEPS)}] {name}: {step(ctx)}")
    echo("\nOutputs:")
    for what, where in ctx.outputs.items():
        echo(f"  {what:<28} {where}")
    echo_users(ctx, echo)
    return ctx


def echo_users(ctx: DemoContext, echo: Callable[[str], None]) -> None:
    """The users the demo registered, and how to act as one of them on its database."""
    echo(f"\nUsers registered in {ctx.directory / 'rct.db'} (act as one with --as NAME):")
    for name, role, borough in ctx.facts.get("users", []):
        echo(f"  {name:<28} {role}" + (f" ({borough})" if borough else ""))
    echo(f"e.g. rct --db sqlite:///{ctx.directory / 'rct.db'} --as {EVALUATOR} allocate verify")
