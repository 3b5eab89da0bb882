"""Where the product keeps its files.

One module, so the table of locations in docs/cli.md ("The store") has one source of truth.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_DIR_NAME = "ree-screener"


def data_home() -> Path:
    """Per-user data folder (XDG): the store lives here unless ``--db``/``SCREENER_DB`` says otherwise."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP_DIR_NAME


def cache_home() -> Path:
    """Per-user cache folder (XDG) owned by the product; yfinance's caches are pointed here."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / APP_DIR_NAME


def default_db_path() -> Path:
    return data_home() / "screener.duckdb"


def resolve_db_path(path: str | os.PathLike[str] | None) -> Path:
    """The store file a command uses: ``--db`` when given, else ``SCREENER_DB``, else the per-user default."""
    if path:
        return Path(path).expanduser()
    env = os.environ.get("SCREENER_DB")
    if env:
        return Path(env).expanduser()
    return default_db_path()


def bundled_data_dir() -> Path:
    """The bundled universe: inside the wheel as ``screener/_data``, or ``data/`` beside the package in a checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "_data"
    if (packaged / "companies.csv").exists():
        return packaged
    return here.parent / "data"
