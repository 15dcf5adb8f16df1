"""Files holding secrets or customer data (the data folder, the SQLite database, the
development key) are readable by the server's own user only: 0700 folders, 0600 files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """`path` and its missing parents; the folders created here are 0700 (existing ones
    are left alone: the operator may have chosen the data folder's permissions)."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    return path


def private_file(path: Path) -> Path:
    """`path` created empty at 0600 if missing; an existing one loses group/other access.

    For SQLite, call it before the first connection: SQLite creates the database file
    with 0644, and its -wal and -shm files with the database file's permissions.
    """
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, FILE_MODE)
    return path
