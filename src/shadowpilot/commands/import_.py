"""`shadowpilot import PATH...` and `shadowpilot import twilio`: transcripts into the tenant store."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ..errors import UsageError, bad_records
from ..terms import say
from ..wording import noun, plural
from .common import CLI_TERMS, JSON_OPTION, console, emit_json, guarded, settings

if TYPE_CHECKING:
    from rich.console import Console

    from ..transcripts.twilio.records import SpeakerReport
    from ..workflow import ImportReport

TWILIO = "twilio"
CREDENTIALS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")


def is_twilio(paths: list[Path]) -> bool:
    """`twilio` as the first argument selects Twilio, unless a file or folder of that name exists."""
    return bool(paths) and str(paths[0]) == TWILIO and not paths[0].exists()


def parse_day(value: str, option: str) -> datetime:
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} {value!r}: expected a date like 2026-11-01 or 2026-11-01T09:00") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@guarded
def command(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(
        ...,
        metavar="PATH...",
        help="Transcript files or folders (.jsonl, .csv, .txt), or the word twilio to pull from Twilio "
        "(a file or folder named twilio is still read as one).",
    ),
    fmt: str | None = typer.Option(None, "--format", help="jsonl | csv | text (default: from the name or content)."),
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="Import the good records and list the bad (default: none)."
    ),
    top: int | None = typer.Option(
        None, "--top", min=1, help="Keep at most N cases: critical ones first, then those that best cover the calls."
    ),
    all_critical: bool = typer.Option(
        False, "--all-critical", help="With --top N: keep every critical case, even when they alone are more than N."
    ),
    replace: bool = typer.Option(
        False,
        "--replace",
        help="Make the stored imported cases exactly this import's; the others are archived "
        "(`shadowpilot cases restore` brings them back).",
    ),
    since: str | None = typer.Option(
        None, "--since", help="twilio: calls and chats that started on or after this date (UTC), e.g. 2026-11-01."
    ),
    until: str | None = typer.Option(None, "--until", help="twilio: ... and before this date (default: now)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="twilio: fetch at most N calls and N chats."),
    audio: bool = typer.Option(
        False, "--audio", help="twilio: download each call's Recording too (kept beside the store, never in reports)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Read transcripts into the store. A bad record names its file, line and field;
    by default one bad record imports nothing (exit 2).

    `import twilio --since 2026-11-01` pulls finished calls, chats and what the humans did
    (TaskRouter: queue, attributes, transfers as escalations), using TWILIO_ACCOUNT_SID and
    TWILIO_AUTH_TOKEN from the environment and the mapping in [twilio] of shadowpilot.toml.
    Calls that cannot be fetched, calls without a task and tasks without a call are listed.
    `--audio` downloads each call's Recording (dual-channel WAV) with it."""
    s = settings(ctx)
    if is_twilio(paths):
        if len(paths) > 1:
            raise UsageError("`import twilio` takes no paths; give files in a separate import")
        if fmt is not None:
            raise UsageError("--format is for files; Twilio records have one format")
        if since is None:
            raise UsageError("`import twilio` needs --since (e.g. --since 2026-11-01)")
        rep = _import_twilio(
            s,
            parse_day(since, "--since"),
            parse_day(until, "--until") if until else None,
            limit,
            top,
            all_critical,
            skip_bad,
            replace,
            show_progress=not as_json,
            audio=audio,
        )
    else:
        for name, value in (("--since", since), ("--until", until), ("--limit", limit), ("--audio", audio or None)):
            if value is not None:
                raise UsageError(f"{name} is for `import twilio`, not for files")
        from ..workflow import import_files

        with LargeImport(show=not as_json) as progress:
            rep = import_files(
                s,
                paths,
                format=fmt,
                skip_bad=skip_bad,
                top=top,
                all_critical=all_critical,
                progress=progress,
                replace=replace,
            )
    _show(s.store_path, rep, top, as_json)


LARGE_IMPORT = 1000  # records: an import of more shows its progress, as `run` does
STAGES = {"read": "reading", "store": "storing"}


class LargeImport:
    """The file import's progress bar on stderr, drawn once an import passes LARGE_IMPORT records
    and only on a terminal (nothing for a pipe, a log or --json); one bar per stage."""

    def __init__(self, show: bool) -> None:
        from contextlib import ExitStack

        self._show = show and console(stderr=True).is_terminal
        self._stack = ExitStack()
        self._stage: str | None = None
        self._bar: Any = None

    def __enter__(self) -> LargeImport:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()  # the bar is transient: it goes, however the import ended

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if not self._show:
            return
        if stage != self._stage:
            if max(done, total or 0) <= LARGE_IMPORT:
                return
            from .progress import tally

            self._stack.close()  # the previous stage's bar
            self._bar = self._stack.enter_context(tally(STAGES.get(stage, stage), "records", {}, transient=True))
            self._stage = stage
            self._bar.start(total)
        self._bar.at(done)


def _import_twilio(
    s: Any,
    since: datetime,
    until: datetime | None,
    limit: int | None,
    top: int | None,
    all_critical: bool,
    skip_bad: bool,
    replace: bool,
    show_progress: bool,
    audio: bool = False,
) -> ImportReport:
    missing = [name for name in CREDENTIALS if not os.environ.get(name)]
    if missing:
        raise UsageError(f"set {' and '.join(missing)} in the environment to import from Twilio")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..transcripts.twilio.http import build_client
    from ..workflow import import_twilio

    cfg = s.twilio
    client = build_client(
        os.environ["TWILIO_ACCOUNT_SID"],
        os.environ["TWILIO_AUTH_TOKEN"],
        api_base=cfg.api_base,
        max_retries=cfg.max_retries,
        max_backoff_s=cfg.max_backoff_s,
    )
    err = console(stderr=True)
    labels = {
        "calls": "calls (transcripts)",
        "chats": "chats (conversations)",
        "outcomes": "outcomes (TaskRouter)",
        "recordings": "recordings (audio)",
        "store": "storing cases",
    }
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not show_progress or not err.is_terminal,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        return import_twilio(
            s,
            client,
            since=since,
            until=until,
            limit=limit,
            top=top,
            all_critical=all_critical,
            skip_bad=skip_bad,
            replace=replace,
            progress=progress,
            audio=audio,
        )


def _show(store_path: Path, rep: ImportReport, top: int | None, as_json: bool) -> None:
    sm = rep.summary
    if as_json:
        payload: dict[str, Any] = {
            "store": str(store_path),
            "added": sm.added,
            "updated": sm.updated,
            "unchanged": sm.unchanged,
            "skipped": [
                {"file": p.file, "line": p.line, "field": p.field, "message": say(p.message, CLI_TERMS)}
                for p in rep.skipped
            ],
            "bad_records": bad_records(rep.skipped),
            "kept": None if rep.picks is None else [{"case_id": p.case.id, "why": p.why} for p in rep.picks],
            "kept_note": None if rep.pick_note is None else say(rep.pick_note, CLI_TERMS),
            "archived": sm.archived,
            "restored": sm.restored,
            "stored": sm.stored,
            "stored_note": None if rep.stored_note is None else say(rep.stored_note, CLI_TERMS),
        }
        if not rep.files:  # a Twilio import
            payload["failed"] = [{"kind": f.kind, "sid": f.sid, "key": f.key, "error": f.error} for f in rep.failed]
            payload["unjoined"] = [{"kind": u.kind, "sid": u.sid, "key": u.key, "note": u.note} for u in rep.unjoined]
            if rep.speakers is not None:
                payload["speakers"] = dict(rep.speakers.by_source)
                payload["look_swapped"] = [{"case_id": c, "mapped_by": m} for c, m in rep.speakers.swapped.items()]
                payload["speaker_hints"] = list(rep.speakers.hints)
            payload["without_audio"] = rep.without_audio  # null: imported without --audio
        emit_json(payload)
        return
    from rich.text import Text

    from .safe import safe_text

    con = console()
    if rep.picks is not None:
        from .tables import Column, fitted_table, print_whole

        rows = [(safe_text(p.case.id, one_line=True), safe_text(p.why)) for p in rep.picks]
        title = f"Kept {plural(len(rep.picks), 'case')} (--top {top})"
        columns = [Column("case", id=True), Column("why it was kept")]
        print_whole(con, fitted_table(con, columns, rows, title=title, title_justify="left"))
        if rep.pick_note:
            con.print(safe_text(say(rep.pick_note, CLI_TERMS), "yellow"), soft_wrap=True)
    con.print(
        Text("imported into ")
        + safe_text(store_path, "bold")
        + Text(
            f": {len(sm.added)} new, "
            f"{len(sm.updated)} changed (new version kept beside the old), {len(sm.unchanged)} unchanged"
        ),
        soft_wrap=True,
    )
    if rep.without_audio is not None:
        con.print(Text(f"audio: {plural(rep.without_audio, 'call')} had no recording and came without audio"))
    if sm.restored:
        con.print(safe_text(f"brought back from the archive: {', '.join(sm.restored)}"), soft_wrap=True)
    if sm.archived:
        con.print(
            safe_text(
                f"archived {plural(len(sm.archived), 'earlier imported case')} (`shadowpilot cases restore ID...` "
                f"or `--all` brings them back): {', '.join(sm.archived)}"
            ),
            soft_wrap=True,
        )
    err = console(stderr=True)
    if rep.stored_note:
        err.print(safe_text(f"note: {say(rep.stored_note, CLI_TERMS)}", "yellow"), soft_wrap=True)
    if rep.speakers is not None:
        _show_speakers(rep.speakers, con, err)
    if rep.skipped:
        err.print(Text(f"skipped {plural(bad_records(rep.skipped), 'bad record')}:", style="yellow"))
        for problem in rep.skipped:
            err.print(safe_text(f"  {problem.say(CLI_TERMS)}"), soft_wrap=True)
    if rep.failed:
        err.print(Text(f"not imported: {len(rep.failed)} could not be fetched from Twilio:", style="yellow"))
        for f in rep.failed:
            err.print(
                safe_text(f"  {f.kind} {f.sid}{f' ({f.key})' if f.key and f.key != f.sid else ''}: {f.error}"),
                soft_wrap=True,
            )
    if rep.unjoined:
        err.print(Text(f"{plural(len(rep.unjoined), 'record')} did not join:", style="yellow"))
        for u in rep.unjoined:
            err.print(
                safe_text(f"  {u.kind} {u.sid}{f' ({u.key})' if u.key and u.key != u.sid else ''}: {u.note}"),
                soft_wrap=True,
            )


def _show_speakers(sp: SpeakerReport, con: Console, err: Console) -> None:
    """Which rule mapped how many calls' channels to speakers, and the calls that look swapped."""
    from rich.text import Text

    from ..transcripts.twilio.mapping import SPEAKER_RULES
    from .safe import safe_text

    if any(sp.by_source.values()):
        parts = [f"{n} by {SPEAKER_RULES.get(k, k)}" for k, n in sp.by_source.items() if n]
        calls = plural(sum(sp.by_source.values()), "call")
        con.print(Text(f"speakers of {calls}: {', '.join(parts)}"), soft_wrap=True)
    if sp.swapped:
        look = noun(len(sp.swapped), "looks", "look")
        err.print(
            Text(
                f"warning: {plural(len(sp.swapped), 'call')} {look} swapped (the customer side opens with "
                "the business's greeting); check them:",
                style="yellow",
            ),
            soft_wrap=True,
        )
        for case_id, rule in sp.swapped.items():
            err.print(safe_text(f"  {case_id} (mapped by {SPEAKER_RULES.get(rule, rule)})"), soft_wrap=True)
        for hint in sp.hints:
            err.print(safe_text(f"  {hint}", "yellow"), soft_wrap=True)
