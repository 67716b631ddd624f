"""Benchmark: power-simulation throughput (simulated trials analysed per second).

For the shipped protocol's primary analysis, times ``power_simulation`` under the
between-within GLMM (Poisson, AGQ 7, the prespecified method), the cluster-level analysis
and the randomisation test, and, in the same run, a baseline: the same number of freshly
simulated trials analysed by a plain Poisson GLM (statsmodels, no random effect) with the
same fixed effects. Prints fits per second and the ratio to the GLM baseline. Nothing is
asserted: timings depend on the machine; the ratios are what to compare.

Run: ``python bench/bench_power.py [SIMULATIONS]``
"""

from __future__ import annotations

import time

import numpy as np
import statsmodels.api as sm
import statsmodels.formula.api as smf

from analysis.sap.dataset import build_frame
from analysis.sap.power import power_simulation
from analysis.sap.simulate import simulate_values
from protocols import load_protocol, shipped_protocol_path


def glm_baseline(protocol, n: int) -> float:  # type: ignore[no-untyped-def]
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
    n = parser.parse_args().simulations
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


if __name__ == "__main__":
    main()
