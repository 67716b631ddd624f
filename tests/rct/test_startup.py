"""``rct --help`` stays fast: it imports none of the heavy libraries."""

import subprocess
import sys
from pathlib import Path

HEAVY = (
    "pandas",
    "numpy",
    "scipy",
    "statsmodels",
    "patsy",
    "sqlalchemy",
    "matplotlib",
    "cryptography",
    "alembic",
)

PROBE = """
import sys
from rct.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
print("HEAVY:" + ",".join(m for m in %r if m in sys.modules))
"""


def test_help_imports_no_heavy_library() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,)], capture_output=True, text=True, check=True
    )
    assert out.stdout.rsplit("HEAVY:", 1)[-1].strip() == ""


def test_protocol_validate_imports_no_heavy_library() -> None:
    """Checking a protocol file needs no database, data frame or key: it stays light too."""
    from protocols import shipped_protocol_path

    probe = PROBE.replace(
        '["--help"]', repr(["protocol", "validate", str(shipped_protocol_path())])
    )
    out = subprocess.run(
        [sys.executable, "-c", probe % (HEAVY,)], capture_output=True, text=True, check=True
    )
    assert "HEAVY:" in out.stdout, out.stderr
    assert out.stdout.rsplit("HEAVY:", 1)[-1].strip() == ""


def test_python_dash_m_rct_works() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "rct", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("rct, version")


READ_ONLY = {
    "completeness": ["completeness"],
    "user list": ["user", "list"],
    "audit verify": ["audit", "verify"],
    "protocol show": ["protocol", "show"],
}

READ_PROBE = """
import sys
from rct.cli import main
try:
    main(%r)
except SystemExit as exc:
    code = exc.code
print("CODE:%%s" %% code)
print("LOADED:" + ",".join(sorted(m for m in sys.modules
      if m.split(".")[0] == "alembic" or m.startswith("rct.migrations") or m == "mako")))
"""


def test_read_only_commands_import_neither_alembic_nor_the_migrations(
    tmp_path: Path,
) -> None:
    from protocols import load_protocol, shipped_protocol_path
    from rct.initialise import initialise

    url = f"sqlite:///{tmp_path / 'rct.db'}"
    initialise(url, "ann", load_protocol(shipped_protocol_path()), "shipped")
    for name, args in READ_ONLY.items():
        out = subprocess.run(
            [sys.executable, "-c", READ_PROBE % (["--db", url, "--as", "ann", *args],)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "CODE:0" in out, (name, out)
        assert out.rsplit("LOADED:", 1)[-1].strip() == "", (name, out)


def test_the_head_revision_read_from_the_files_is_alembic_s() -> None:
    from alembic.script import ScriptDirectory

    from rct.db.engine import MIGRATIONS, head_revision

    assert head_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()


ENGINES_PROBE = """
import sys
import rct.analyses
from analysis.sap.results import SapResults
ENGINES = ("statsmodels", "scipy.stats", "scipy.optimize", "patsy", "analysis.sap.runner",
           "analysis.glmm", "analysis.gee", "analysis.lmm")
print("ENGINES:" + ",".join(sorted(m for m in ENGINES if m in sys.modules)))
"""


def test_the_analysis_service_and_stored_results_load_no_model_engine() -> None:
    # 'rct analyse show' reads stored results; the runner and the model engines (SciPy's
    # optimisers, patsy) load only when an analysis is run
    out = subprocess.run(
        [sys.executable, "-c", ENGINES_PROBE], capture_output=True, text=True, check=True
    ).stdout
    assert out.rsplit("ENGINES:", 1)[-1].strip() == ""


def test_the_runner_is_still_reachable_from_the_sap_package() -> None:
    from analysis import sap
    from analysis.sap.runner import run_sap

    assert sap.run_sap is run_sap
