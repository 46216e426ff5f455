"""The tenant's recordings, beside its store: `.shadowpilot/<tenant>.audio/<sha256>.wav`.

Content-addressed by the sha256 of the file's bytes, which the case version records
(types.CaseAudio), so the same recording imported twice is kept once and a changed one is a
new file and a new case version. Audio is personal data as the transcripts are: the folder
is 0700 and its files 0600 (private.py), and each file is written whole before any case row
names it (a temporary file, fsync, rename, fsync of the folder), so a crash leaves either the
old state or the complete file, never a torn one. A file no case names (an import that failed
after its audio was written) is harmless: it is the same bytes a later import would write.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..errors import EnvironmentFailure, NotFoundError, UsageError
from ..private import fsync_dir, open_private, private_dir

CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class AudioStore:
    """One tenant's folder of recordings (Settings.audio_dir)."""

    root: Path

    def path_of(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise UsageError(f"not an audio sha256: {sha256!r}")
        return self.root / f"{sha256}.wav"

    def has(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def existing(self, sha256: str) -> Path:
        """The file of a stored recording; NotFoundError when this tenant's folder does not hold it."""
        path = self.path_of(sha256)
        if not path.is_file():
            raise NotFoundError(f"the recording {sha256[:12]}... is not in {self.root}")
        return path

    def put(self, source: Path, sha256: str) -> Path:
        """Keep `source`'s bytes as the recording `sha256`, durably; nothing is written when it is
        already kept. UsageError when the file no longer has that hash (it changed since it was
        read); EnvironmentFailure when the folder cannot be written (disk full, permissions)."""
        dest = self.path_of(sha256)
        try:
            private_dir(self.root)
            if dest.is_file() and sha256_of(dest) == sha256:
                return dest
            tmp = self.root / f".{sha256}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            h = hashlib.sha256()
            fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            try:
                with os.fdopen(fd, "wb") as out, source.open("rb") as f:
                    for block in iter(lambda: f.read(CHUNK), b""):
                        h.update(block)
                        out.write(block)
                    out.flush()
                    os.fsync(out.fileno())
                if h.hexdigest() != sha256:
                    raise UsageError(f"{source}: the audio file changed while it was being imported; import it again")
                os.replace(tmp, dest)
                fsync_dir(self.root)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        except OSError as exc:
            raise EnvironmentFailure(f"cannot keep the recording in {self.root}: {exc.strerror or exc}") from None
        return dest
