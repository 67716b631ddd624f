"""``rct --help`` stays fast: it imports none of the heavy libraries."""

import subprocess
import sys

HEAVY = ("pandas", "numpy", "scipy", "statsmodels", "sqlalchemy", "matplotlib", "alembic")

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


def test_python_dash_m_rct_works() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "rct", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("rct, version")
