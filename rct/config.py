"""Where the trial database is and who is acting: command line, environment, defaults.

Precedence: an explicit ``--db``/``--as`` option, then ``RCT_DATABASE_URL``/``RCT_USER``,
then the defaults (the SQLite file ``rct.db`` in the working directory; the login name).
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from rct.errors import ConfigError

__all__ = ["DEFAULT_DB_FILE", "database_url", "acting_user_name", "normalise_url"]

DEFAULT_DB_FILE = "rct.db"


def normalise_url(url: str) -> str:
    """Accept the spellings people use and name the driver this toolkit ships with.

    ``postgres://`` and ``postgresql://`` become ``postgresql+psycopg://`` (psycopg 3);
    a bare file path becomes an SQLite URL.
    """
    url = url.strip()
    if not url:
        raise ConfigError("the database URL is empty; give --db URL or set RCT_DATABASE_URL")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if "://" not in url:
        return f"sqlite:///{Path(url).resolve()}"
    if not (url.startswith("sqlite") or url.startswith("postgresql")):
        raise ConfigError(
            f"unsupported database URL {url.split('://')[0]}://...; use sqlite:///FILE or "
            "postgresql://USER@HOST:PORT/DB"
        )
    return url


def database_url(option: str | None = None) -> str:
    """The database URL to use, from the option, ``RCT_DATABASE_URL`` or the default."""
    if option:
        return normalise_url(option)
    env = os.environ.get("RCT_DATABASE_URL")
    if env:
        return normalise_url(env)
    return f"sqlite:///{Path(DEFAULT_DB_FILE).resolve()}"


def acting_user_name(option: str | None = None) -> str:
    """The acting user's name, from ``--as``, ``RCT_USER`` or the login name."""
    name = option or os.environ.get("RCT_USER")
    if not name:
        try:
            name = getpass.getuser()
        except Exception:  # noqa: BLE001 - getuser raises several kinds on odd systems
            name = ""
    if not name:
        raise ConfigError("cannot tell who is acting; give --as NAME or set RCT_USER")
    return name
