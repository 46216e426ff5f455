"""The tenant's files are the tenant's alone: folders 0700, files 0600, whatever the umask.

The store and the shadow event log hold customers' conversations. Modes are set explicitly
(os.open with a mode, os.chmod after a library creates a file), since a umask of 022 would
leave them readable by every account on the machine. A folder an earlier version made looser
is tightened when it is next used, with one note line on stderr saying so.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Make `path` (and missing parents) and leave it 0700. Raises OSError when it cannot be made."""
    existed = path.is_dir()
    path.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & ~DIR_MODE:
            os.chmod(path, DIR_MODE)
            if existed:
                sys.stderr.write(f"note: {path} was open to other users (mode {mode:o}); made it {DIR_MODE:o}\n")
    except OSError:
        pass  # a folder we may read but not change (another owner, a read-only disk): leave it as it is


def private_file(path: Path) -> None:
    """Leave an existing file 0600 (for files a library creates, like DuckDB's)."""
    with contextlib.suppress(OSError):  # absent, or not ours to change: nothing to tighten
        if stat.S_IMODE(path.stat().st_mode) & ~FILE_MODE:
            os.chmod(path, FILE_MODE)


def open_private(path: Path, flags: int) -> int:
    """os.open creating the file 0600 (and making an existing one so)."""
    fd = os.open(path, flags, FILE_MODE)
    with contextlib.suppress(OSError):
        os.fchmod(fd, FILE_MODE)
    return fd


def fsync_dir(folder: Path) -> None:
    """Make the folder's entries durable: a file just created or renamed into it survives a crash
    only once its directory is fsync'd too (the store's audio, the event log, the media frames)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
