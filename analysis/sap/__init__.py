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

from analysis.sap.results import SapResults
from analysis.sap.runner import run_sap

__all__ = ["SapResults", "run_sap"]
