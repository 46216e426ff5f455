"""PDF through headless Chromium: the HTML report printed with its print stylesheet.

Chromium is not a Python dependency; it is found on PATH (Debian's `chromium` package). The
browser runs with a throwaway profile, no network services and no sandbox (containers and CI
runners rarely allow one); it only ever opens the local file written here.

Chromium is the environment, not shadowpilot: when it is missing, fails or runs out of time
the error is one line and exit 2, never "a bug in the harness".
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

from ..errors import ShadowpilotError, UsageError
from ..formatting import seconds
from ..terms import Term, Worded

Paper = Literal["A4", "Letter"]
Progress = Callable[[str], None]

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FALLBACK = Path("/usr/bin/chromium")
PDF, HTML = Term("format_pdf", '`fmt="pdf"`'), Term("format_html", '`fmt="html"`')
INSTALL_HINT = Worded(
    PDF,
    " needs Chromium, which is not installed: on Debian or Ubuntu `sudo apt-get install chromium`; or write ",
    HTML,
    " and print that to PDF from a browser",
)
# Territories whose locales print on US Letter (glibc's LC_PAPER data); everywhere else A4.
LETTER_TERRITORIES = frozenset({"US", "CA", "MX", "PR", "PH", "CL", "CO", "CR", "GT", "NI", "PA", "SV", "VE", "BO"})
# Chromium's time to print grows with the cases laid out; the limit grows with them, so a large
# run is never cut off while a hung browser still is.
TIMEOUT_BASE_S = 120.0
TIMEOUT_PER_CASE_S = 0.25


class ChromiumError(ShadowpilotError):
    """Chromium could not print the PDF (it crashed, made no file, or ran out of time)."""

    exit_code = 2


def paper_from_locale(environ: Mapping[str, str] | None = None) -> Paper:
    """The locale's paper: LC_ALL, else LC_PAPER, else LANG (POSIX precedence); Letter for the
    territories that use it (en_US, en_CA, fr_CA, es_MX...), A4 otherwise and for C/POSIX."""
    env = os.environ if environ is None else environ
    value = next((env[v] for v in ("LC_ALL", "LC_PAPER", "LANG") if env.get(v)), "")
    m = re.match(r"[A-Za-z]{2,3}_([A-Za-z]{2})\b", value)
    return "Letter" if m and m.group(1).upper() in LETTER_TERRITORIES else "A4"


def timeout_for(cases: int) -> float:
    """How long Chromium may take to print a report of `cases` cases."""
    return TIMEOUT_BASE_S + TIMEOUT_PER_CASE_S * max(cases, 0)


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


def _last_line(stderr: str) -> str:
    """Chromium's last meaningful stderr line, for a one-line error."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no message"


def _run(cmd: list[str], timeout_s: float) -> tuple[int, str]:
    """Run Chromium in its own process group, so a timeout ends its helpers too."""
    with subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            _, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        return proc.returncode, err or ""


def html_to_pdf(
    html: str,
    path: Path,
    *,
    chromium: str | None = None,
    timeout_s: float = TIMEOUT_BASE_S,
    progress: Progress | None = None,
) -> int:
    """Print `html` to a PDF at `path` (page size and margins come from its print stylesheet);
    returns its size in bytes."""
    say = progress or (lambda _: None)
    exe = chromium or find_chromium()
    if exe is None:
        raise UsageError.worded(INSTALL_HINT)
    if path.is_dir():
        raise UsageError.worded(f"{path} is a directory; give a file name with ", Term("output", "`path`"))
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
        say(f"Chromium is laying out and printing the report (up to {seconds(timeout_s)})")
        try:
            code, stderr = _run(cmd, timeout_s)
        except subprocess.TimeoutExpired:
            raise ChromiumError.worded(
                f"Chromium ({exe}) did not finish printing the PDF within {seconds(timeout_s)}; try ",
                HTML,
                " and print it from a browser",
            ) from None
        except OSError as exc:
            raise UsageError(f"cannot start Chromium ({exe}): {exc.strerror}") from None
        if not out.exists() or out.read_bytes()[:5] != b"%PDF-":
            raise ChromiumError(f"Chromium ({exe}) made no PDF (exit {code}): {_last_line(stderr)}")
        say(f"saving {path.name}")
        try:
            shutil.copyfile(out, path)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    return path.stat().st_size
