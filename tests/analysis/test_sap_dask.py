"""The same simulations on a Dask distributed cluster give exactly the local results."""

from __future__ import annotations

import pytest

from analysis.errors import ModelSpecificationError
from analysis.sap.operating import run_simulations
from tests.analysis.test_sap_operating import plan_for, same

distributed = pytest.importorskip("distributed")


def test_a_local_dask_cluster_gives_the_local_results() -> None:
    plan = plan_for()
    local = run_simulations(plan, 3, workers=1)
    # dashboard on a free port: None still asked for 8787 and warned when it was taken
    with distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=":0"
    ) as cluster:
        steps: list[int] = []
        remote = run_simulations(
            plan, 3, scheduler=cluster.scheduler_address, progress=steps.append
        )
    assert same(local, remote)
    assert sum(steps) == 6


def test_an_unreachable_scheduler_is_one_clear_error() -> None:
    with pytest.raises(ModelSpecificationError, match="cannot reach the Dask scheduler"):
        run_simulations(plan_for(), 1, scheduler="tcp://127.0.0.1:9")
