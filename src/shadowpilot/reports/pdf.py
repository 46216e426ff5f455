"""PDF through headless Chromium: the HTML report printed with its print stylesheet.

Chromium is not a Python dependency; it is found on PATH (Debian's `chromium` package). The
browser runs with a throwaway profile, no network services and no sandbox (containers and CI
runners rarely allow one); it only ever opens the local file written here.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import ShadowpilotError, UsageError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FALLBACK = Path("/usr/bin/chromium")
INSTALL_HINT = (
    "`--format pdf` needs Chromium, which is not installed: on Debian or Ubuntu "
    "`sudo apt-get install chromium`; or write `--format html` and print that to PDF from a browser"
)


def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable to drive, or None."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return str(FALLBACK) if FALLBACK.exists() else None


def headless_args(profile: Path) -> list[str]:
    """The flags every headless use shares: no sandbox, no GPU, nothing fetched in the background."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--mute-audio",
        f"--user-data-dir={profile}",
    ]


def html_to_pdf(html: str, path: Path, *, chromium: str | None = None, timeout_s: float = 120.0) -> int:
    """Print `html` to a PDF at `path`; returns its size in bytes."""
    exe = chromium or find_chromium()
    if exe is None:
        raise UsageError(INSTALL_HINT)
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give a file name with -o")
    path = path.resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    with tempfile.TemporaryDirectory(prefix="shadowpilot-pdf-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        out = Path(tmp) / "report.pdf"
        cmd = [
            exe,
            *headless_args(Path(tmp) / "profile"),
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise ShadowpilotError(f"Chromium ({exe}) did not print the PDF within {timeout_s:g} s") from None
        except OSError as exc:
            raise UsageError(f"cannot start Chromium ({exe}): {exc.strerror}") from None
        if not out.exists() or out.read_bytes()[:5] != b"%PDF-":
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise ShadowpilotError(f"Chromium ({exe}) made no PDF (exit {proc.returncode}): {tail}")
        try:
            shutil.copyfile(out, path)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    return path.stat().st_size
