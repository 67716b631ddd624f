"""The statistical analysis plan runner: analysis datasets, prespecified fits, results.

Pure library: it takes the locked protocol, the long-form indicator values and (once
revealed) the arms, and returns deterministic results; the database stays in ``rct``.

* :mod:`analysis.sap.dataset` - the model frame of one analysis;
* :mod:`analysis.sap.runner` - ``run_sap``: every analysis under each inference method;
* :mod:`analysis.sap.results`, :mod:`analysis.sap.summary` - results JSON and Markdown;
* :mod:`analysis.sap.simulate` - seeded simulated returns (demo, power);
* :mod:`analysis.sap.power` - simulation-based power;
* :mod:`analysis.sap.emit_r` - the R cross-check script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analysis.sap.results import SapResults
    from analysis.sap.runner import run_sap

__all__ = ["SapResults", "run_sap"]


def __getattr__(name: str) -> Any:
    """``run_sap`` and ``SapResults`` on first use: the runner loads every model engine
    (SciPy's optimisers, patsy: about a second to import), which the code that only builds frames
    or reads stored results (``rct analyse show``, the service module) should not pay for."""
    if name == "run_sap":
        # lazy: loads the model engines (start-up time)
        from analysis.sap.runner import run_sap

        return run_sap
    if name == "SapResults":
        # lazy: loads numpy (start-up time)
        from analysis.sap.results import SapResults

        return SapResults
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
