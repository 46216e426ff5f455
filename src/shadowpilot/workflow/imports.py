"""Imports: transcripts from files or Twilio into the tenant store, all or nothing, with top-N selection."""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import EnvironmentFailure, InputError, Problem, UsageError, bad_records, in_file_order
from ..private import private_dir
from ..store import ImportSummary
from ..store.audio import AudioStore
from ..terms import Term, Worded
from ..transcripts import Sourced, load_transcripts
from ..transcripts.select import Pick, select_top
from ..transcripts.twilio.records import Failure, SpeakerReport, Unjoined
from ..transcripts.validate import check_duplicates
from ..types import Transcript
from .workspace import Workspace

if TYPE_CHECKING:
    from twilio.rest import Client as TwilioClient

    from ..transcripts.twilio.fetch import ProgressFn
    from ..transcripts.twilio.records import Fetched


@dataclass
class ImportReport:
    summary: ImportSummary
    skipped: list[Problem] = field(default_factory=list)
    picks: list[Pick] | None = None
    pick_note: Worded | None = None  # `top` with more critical cases than it: what was done
    files: list[str] = field(default_factory=list)
    # Twilio imports: calls/chats that could not be fetched, and records that did not join.
    failed: list[Failure] = field(default_factory=list)
    unjoined: list[Unjoined] = field(default_factory=list)
    speakers: SpeakerReport | None = None  # Twilio imports: how calls' channels became speakers
    # `top` without `replace` that leaves more imported cases stored than N: what to do about it
    stored_note: Worded | None = None
    without_audio: int | None = None  # `import twilio --audio`: fetched calls that had no recording


def import_files(
    settings: Settings,
    paths: list[Path],
    *,
    format: str | None = None,
    skip_bad: bool = False,
    top: int | None = None,
    all_critical: bool = False,
    progress: ProgressFn | None = None,
    replace: bool = False,
) -> ImportReport:
    """Read transcripts into the tenant store: all or nothing unless `skip_bad`; `replace`: see store_cases.

    Speaker labels are mapped by `[import] speakers`. `progress(stage, done, total)` is called as
    records are read ("read", total unknown) and as cases are stored ("store")."""
    from ..transcripts.twilio.mapping import default_customer_channel

    read = None if progress is None else (lambda done: progress("read", done, None))
    loaded = load_transcripts(
        paths,
        format=format,
        speakers=settings.import_.speakers,
        progress=read,
        customer_channel=default_customer_channel(settings.twilio),
    )
    rep = store_cases(
        settings,
        loaded.cases,
        loaded.problems,
        skip_bad=skip_bad,
        top=top,
        all_critical=all_critical,
        progress=progress,
        replace=replace,
    )
    rep.files = loaded.files
    return rep


def store_cases(
    settings: Settings,
    cases: list[Sourced],
    problems: list[Problem],
    *,
    skip_bad: bool = False,
    top: int | None = None,
    all_critical: bool = False,
    progress: ProgressFn | None = None,
    replace: bool = False,
) -> ImportReport:
    """The import path every source shares: tenant check, all-or-nothing, top-N (at most N
    unless `all_critical`), one store write. Problems come back in file and line order.

    `replace`: the stored imported cases (files and Twilio) become exactly this import's; the
    others are archived (restorable, see workflow.cases), never deleted. Without it, a `top`
    import that leaves more than N imported cases stored says so in `stored_note`."""
    if all_critical and top is None:
        raise UsageError.worded(Term("all_critical"), " goes with ", Term("top_n", "top"))
    problems = list(problems)
    tenant = settings.tenant.name
    good: list[Sourced] = []
    for c in cases:
        t = c.transcript
        if t.tenant is not None and t.tenant != tenant:
            problems.append(
                Problem(
                    c.file,
                    c.line,
                    "tenant",
                    f"belongs to tenant {t.tenant!r}; this store is {tenant!r}",
                    f"{c.file}:{c.line}:{t.id}",  # a JSON array's items have no line of their own
                )
            )
            continue
        if t.tenant is None:
            t = t.model_copy(update={"tenant": tenant})
        good.append(Sourced(t, c.file, c.line))
    problems = in_file_order(problems)
    if problems and not skip_bad:
        raise InputError(
            problems,
            Worded(
                f"{bad_records(problems)} bad record(s); nothing was imported (",
                Term("skip_bad", "skip_bad=True"),
                " imports the good ones)",
            ),
        )
    if not good:
        raise InputError(problems, "no good records to import") if problems else UsageError("no cases found")
    picks = note = None
    if top is not None:
        sel = select_top([c.transcript for c in good], top, all_critical=all_critical)
        picks, note = sel.picks, sel.note
        keep = {p.case.id for p in picks}
        good = [c for c in good if c.transcript.id in keep]
    stored = None if progress is None else (lambda done, total: progress("store", done, total))
    with Workspace.creating(settings) as ws:
        keep_audio(settings, [c.transcript for c in good])  # every recording on disk before a case names it
        summary = ws.store.add_cases([(c.transcript, c.file) for c in good], progress=stored, replace=replace)
    stored_note = None
    if top is not None and not replace and summary.stored > max(top, len(good)):
        stored_note = Worded(
            f"the store now holds {summary.stored} imported cases, more than the {len(good)} kept here: "
            "the earlier imports' cases stay; ",
            Term("replace", "replace=True"),
            " keeps only these (the others are archived, restorable)",
        )
    return ImportReport(summary=summary, skipped=problems, picks=picks, pick_note=note, stored_note=stored_note)


def keep_audio(settings: Settings, cases: list[Transcript]) -> int:
    """Copy the recordings of `cases` into the tenant's audio folder (store/audio.py), durably;
    the number of cases with audio. A recording already kept is not written again."""
    audio = AudioStore(settings.audio_dir)
    n = 0
    for t in cases:
        if t.audio is None:
            continue
        n += 1
        if t.audio.source is not None:
            audio.put(t.audio.source, t.audio.sha256)
        elif not audio.has(t.audio.sha256):
            raise UsageError(
                f"case {t.id!r}: its recording {t.audio.sha256[:12]}... was never read; import its audio file"
            )
    return n


def import_twilio(
    settings: Settings,
    client: TwilioClient,
    *,
    since: datetime,
    until: datetime | None = None,
    limit: int | None = None,
    top: int | None = None,
    all_critical: bool = False,
    skip_bad: bool = False,
    replace: bool = False,
    progress: ProgressFn | None = None,
    audio: bool = False,
) -> ImportReport:
    """Pull finished calls and chats with their human outcomes from Twilio into the store;
    `audio`: each call's Recording too (kept beside the store; `without_audio` counts the calls
    that had none).

    A call or chat that cannot be fetched is reported in `failed` and the others go on; one
    that maps to a bad case follows the file rule (none imported unless `skip_bad`); records
    that did not join (a call without a task, a task without a call) are in `unjoined`."""
    from ..transcripts.twilio.fetch import fetch_all

    until = until or datetime.now(UTC)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    if until <= since:
        raise UsageError.worded(
            Term("until"), f" ({until:%Y-%m-%d %H:%M}) must be after ", Term("since"), f" ({since:%Y-%m-%d %H:%M})"
        )
    with contextlib.ExitStack() as stack:
        folder = None
        if audio:  # downloads wait in a private folder beside the audio until their case is stored
            try:
                private_dir(settings.audio_dir)
            except OSError as exc:
                raise EnvironmentFailure(f"cannot make {settings.audio_dir}: {exc.strerror or exc}") from None
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=".incoming-", dir=settings.audio_dir)))
        fetched = fetch_all(client, settings.twilio, since, until, limit, progress, audio_folder=folder)
        rep = _store_twilio(settings, fetched, since, until, top, all_critical, skip_bad, replace, progress)
    if audio:
        rep.without_audio = sum(1 for c in fetched.calls if c.recording is None)
    return rep


def _store_twilio(
    settings: Settings,
    fetched: Fetched,
    since: datetime,
    until: datetime,
    top: int | None,
    all_critical: bool,
    skip_bad: bool,
    replace: bool,
    progress: ProgressFn | None,
) -> ImportReport:
    from ..transcripts.twilio.mapping import map_fetched

    mapped = map_fetched(fetched, settings.twilio, since, until)
    dupes = check_duplicates([(src, None, t) for t, src in mapped.cases])
    problems = [*mapped.problems, *dupes.values()]
    cases = [Sourced(t, src, None) for i, (t, src) in enumerate(mapped.cases) if i not in dupes]
    if not cases and not problems:
        what = " and ".join(settings.twilio.sources)
        failed = f"; {len(fetched.failures)} could not be fetched" if fetched.failures else ""
        raise UsageError(f"no finished {what} between {since:%Y-%m-%d %H:%M} and {until:%Y-%m-%d %H:%M} UTC{failed}")
    rep = store_cases(
        settings,
        cases,
        problems,
        skip_bad=skip_bad,
        top=top,
        all_critical=all_critical,
        progress=progress,
        replace=replace,
    )
    rep.failed = fetched.failures
    rep.unjoined = mapped.unjoined
    rep.speakers = mapped.speakers
    return rep
