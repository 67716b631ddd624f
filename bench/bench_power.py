"""Benchmark: power-simulation throughput (simulated trials analysed per second).

For the shipped protocol's primary analysis, times ``power_simulation`` under the
between-within GLMM (Poisson, AGQ 7, the prespecified method), the cluster-level analysis
and the randomisation test, and, in the same run, a baseline: the same number of freshly
simulated trials analysed by a plain Poisson GLM (statsmodels, no random effect) with the
same fixed effects. Prints fits per second and the ratio to the GLM baseline. Nothing is
asserted: timings depend on the machine; the ratios are what to compare.

Then (issue #15 item 5) the command itself: ``rct design power --simulations 1000`` on
the shipped protocol (primary analysis, its prespecified method), as a fresh process with
1 worker and with 2, each timed by wall clock and CPU (user + system of the child and its
workers); prints the speed-up from 1 to 2 workers, whether the two JSON results are
identical (they must be: per-trial seeds come from one master seed), and the target:
under 60 s on 2 cores. ``--cli-simulations 0`` leaves it out.

Run: ``python bench/bench_power.py [SIMULATIONS] [--cli-simulations N] [--workers 1 2]``
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import statsmodels.api as sm
import statsmodels.formula.api as smf

from analysis.sap.dataset import build_frame
from analysis.sap.power import power_simulation
from analysis.sap.simulate import simulate_values
from protocols import Protocol, load_protocol, shipped_protocol_path


def glm_baseline(protocol: Protocol, n: int) -> float:
    """Seconds to simulate and fit ``n`` trials with a Poisson GLM (no random effect)."""
    analysis = next(a for a in protocol.analyses if a.role == "primary")
    units = sorted(u.id for u in protocol.units)
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    for _ in range(n):
        treated = set(rng.choice(units, size=3, replace=False))
        arms = {u: "intervention" if u in treated else "control" for u in units}
        values = simulate_values(
            protocol, arms, seed=int(rng.integers(2**62)), indicators=[analysis.outcome]
        )
        frame = build_frame(protocol, values, arms, analysis)
        smf.glm(
            "y ~ treatment + C(period)",
            frame.data,
            family=sm.families.Poisson(),
            offset=frame.data["offset"],
        ).fit()
    return time.perf_counter() - t0


def cli_power(simulations: int, workers: list[int]) -> None:
    """Time ``rct design power --simulations N`` with each number of workers."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nrct design power --simulations {simulations} (shipped protocol, primary analysis); "
        f"{os.cpu_count()} cores, load average {load} at the start"
    )
    print(f"{'workers':>8}{'wall s':>9}{'CPU s':>9}{'speed-up':>10}  identical  target")
    first: tuple[float, str] | None = None
    for w in workers:
        args = [sys.executable, "-m", "rct", "design", "power", "--protocol"]
        args += [str(shipped_protocol_path()), "--simulations", str(simulations)]
        args += ["--workers", str(w), "--json"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        result = json.dumps(json.loads(out), sort_keys=True)
        if first is None:
            first = (wall, result)
        same = "yes" if result == first[1] else "NO"
        target = "< 60 s on 2 cores" if w == 2 else ""
        print(f"{w:>8}{wall:9.1f}{cpu:9.1f}{first[0] / wall:10.2f}  {same:<9}  {target}")
        if w == workers[-1]:
            print(f"power {json.loads(out)['power']:.3f} ({json.loads(out)['method']})")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "simulations",
        type=int,
        nargs="?",
        default=40,
        help="simulated trials per method (default 40)",
    )
    parser.add_argument(
        "--cli-simulations",
        type=int,
        default=1000,
        help="simulated trials of the timed 'rct design power' runs (0: skip; default 1000)",
    )
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)"
    )
    args = parser.parse_args()
    n = args.simulations
    if n == 0:
        cli_power(args.cli_simulations, args.workers)
        return
    protocol = load_protocol(shipped_protocol_path())
    base = glm_baseline(protocol, n)
    print(f"{n} simulated trials of the shipped protocol (7 boroughs, 7 + 5 quarters)")
    print(f"{'analysis':<34}{'seconds':>10}{'fits/s':>10}{'x GLM time':>12}")
    print(f"{'Poisson GLM baseline (statsmodels)':<34}{base:>10.2f}{n / base:>10.1f}{1.0:>12.1f}")
    for method in ("between-within", "cluster-level", "randomisation"):
        t0 = time.perf_counter()
        r = power_simulation(protocol, method=method, simulations=n, seed=1)
        dt = time.perf_counter() - t0
        print(
            f"{'power: ' + method:<34}{dt:>10.2f}{n / dt:>10.1f}{dt / base:>12.1f}"
            f"   (power {r.power:.0%}, {r.failed} failed)"
        )
    if args.cli_simulations:
        cli_power(args.cli_simulations, args.workers)


if __name__ == "__main__":
    main()
