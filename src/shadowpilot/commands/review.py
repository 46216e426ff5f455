"""`shadowpilot review`: step through a run's disagreements (AI vs human) and rule on them."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

from ..wording import plural
from .common import JSON_OPTION, RUN_REF, console, emit_json, guarded, settings

if TYPE_CHECKING:
    from rich.console import Console

    from ..evals.rulings import Disagreement, Ruling
    from ..types import RecordedRuling


class RulingChoice(StrEnum):
    human_right = "human_right"
    ai_right = "ai_right"
    unclear = "unclear"


PROMPT = "Who was right? [bold]h[/] human · [bold]a[/] AI · [bold]u[/] unclear · [bold]s[/] skip · [bold]q[/] quit"
KEYS = {"h": "human_right", "a": "ai_right", "u": "unclear"}


def _ruling_json(r: Ruling | None) -> dict[str, Any] | None:
    """A ruling; the AI's escalation point as `ai_at_transcript_index` (raw, from 0) and
    `ai_at_customer_turn` (counted from 1, as every human-facing output says it)."""
    if r is None:
        return None
    from ..wording import customer_turn_from_ordinal

    out = r.columns(mode="json")
    out["ai_at_transcript_index"] = out.pop("ai_at_turn")
    out["ai_at_customer_turn"] = customer_turn_from_ordinal(out["ai_at_customer_turn"])
    return out


def _recorded_json(r: RecordedRuling) -> dict[str, Any]:
    return {
        "ruling_id": r.ruling_id,
        **(_ruling_json(r.ruling) or {}),
        "current": r.current,
        "audit_note": r.audit_note,
    }


def _print_history(con: Console, records: list[RecordedRuling], case: str | None) -> None:
    from rich import box
    from rich.text import Text

    from ..evals.rulings import RULING_LABEL
    from ..when import in_utc
    from .safe import safe_text
    from .tables import Column, fitted_table, print_whole

    if not records:
        con.print("no ruling recorded" + (f" on case {case}" if case else ""))
        return
    columns = [
        Column("#", justify="right", no_wrap=True),
        Column("case", id=True),
        Column("run", id=True),
        Column("ruling", no_wrap=True),
        Column("ruled (UTC)", drop=2, no_wrap=True),
        Column("note", drop=1),
        Column("since"),
    ]
    rows = []
    for r in records:
        x = r.ruling
        since = "current" if r.current else "superseded"
        rows.append(
            (
                str(r.ruling_id),
                safe_text(x.case_id, one_line=True),
                safe_text(x.run_id, one_line=True),
                safe_text(f"{RULING_LABEL[x.ruling]} ({x.ruled_by})"),
                f"{in_utc(x.ruled_at):%Y-%m-%d %H:%M}",
                safe_text(x.note or ""),
                Text(since, style="dim" if not r.current else "")
                + (safe_text(f"; {r.audit_note}", "yellow") if r.audit_note else Text("")),
            )
        )
    title = "Rulings" + (f" · {case}" if case else "")
    print_whole(con, fitted_table(con, columns, rows, title=safe_text(title, one_line=True), box=box.SIMPLE_HEAD))


def _disagreement_json(d: Disagreement) -> dict[str, Any]:
    from ..types import DecisionView
    from ..wording import customer_turn_number

    o = d.transcript.outcome
    return {
        "case_id": d.case_id,
        "fingerprint": d.fingerprint,
        "critical": d.critical,
        "decision": d.decision,
        "timing": d.timing,
        "why": d.why,
        # at_turn is the transcript index, as imported; at_customer_turn the number people read
        "human": {
            **o.model_dump(mode="json"),
            "at_customer_turn": customer_turn_number(d.transcript.turns, o.at_turn) if o.escalated else None,
        },
        "ai": DecisionView.of(d.ai, d.ai_reply).model_dump(mode="json"),
        "ruling": _ruling_json(d.ruling),
    }


@guarded
def command(
    ctx: typer.Context,
    run_id: str | None = typer.Option(
        None, "--run", help=f"The run to review: {RUN_REF} (default: the latest complete run)."
    ),
    case: str | None = typer.Option(None, "--case", help="Only this case (with --ruling: rule on it, no prompt)."),
    ruling: RulingChoice | None = typer.Option(None, "--ruling", help="Record this ruling on --case, no prompt."),
    note: str | None = typer.Option(None, "--note", help="Why (with --ruling)."),
    by: str | None = typer.Option(
        None, "--by", help="Who rules (default: $SHADOWPILOT_REVIEWER, else your user name)."
    ),
    list_only: bool = typer.Option(False, "--list", help="List the disagreements and their rulings; no prompt."),
    all_cases: bool = typer.Option(False, "--all", help="Also step through disagreements already ruled on."),
    history: bool = typer.Option(
        False,
        "--history",
        help="Every ruling ever made (with --case: of that case), superseded ones and those of removed "
        "cases and runs included; no prompt.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Step through a run's disagreements (AI vs human) and rule on them.

    A disagreement is a failed case where the AI and the human differ in decision, timing or
    routing. Rule that the human was right, the AI was right (the case's expected outcome
    becomes the AI's decision for scoring; the original is kept), or unclear.

    Interactive by default: each case shows the conversation and both decisions side by side,
    then asks h(uman right) / a(I right) / u(nclear) / s(kip) / q(uit) and a note.
    Non-interactive: `--case ID --ruling ai_right --note "..."`; `--list [--json]`.
    """
    from ..errors import NotFoundError, UsageError
    from ..workflow import disagreements, record_ruling, save_ruling

    s = settings(ctx)
    if history:
        if ruling is not None or note is not None or list_only:
            raise UsageError("--history lists the rulings made; it goes with --case and --json only")
        from ..workflow import ruling_history

        records = ruling_history(s, case)
        if as_json:
            emit_json({"rulings": [_recorded_json(r) for r in records]})
        else:
            _print_history(console(), records, case)
        return
    if ruling is not None:
        if case is None:
            raise UsageError("--ruling needs --case ID (the case to rule on)")
        r = record_ruling(s, case, ruling.value, note, by=by, run_id=run_id)
        if as_json:
            emit_json({"recorded": _ruling_json(r)})
        else:
            from ..evals.rulings import ruling_text
            from .safe import safe_text

            console().print(safe_text(f"{r.case_id} ({r.run_id}): {ruling_text(r.ruling, r.ruled_by, r.note)}"))
        return
    if note is not None:
        raise UsageError("--note goes with --case ID --ruling ...; in the interactive review you are asked for it")
    if not (list_only or as_json or stdin_is_terminal()):
        # a CI job or a pipe would otherwise see the first case, then stop at a prompt nobody answers
        raise UsageError(
            "review asks who was right on a terminal, and stdin is not one: use `shadowpilot review --list` "
            "to see the disagreements, or --case ID --ruling human_right|ai_right|unclear to rule on one"
        )

    rid, items = disagreements(s, run_id)
    if case is not None:
        items = [d for d in items if d.case_id == case]
        if not items:
            raise NotFoundError(f"case {case!r} is not a disagreement in run {rid}; see `shadowpilot review --list`")
    if list_only or as_json:
        if as_json:
            emit_json({"run_id": rid, "disagreements": [_disagreement_json(d) for d in items]})
        else:
            _print_list(console(), rid, items)
        return

    from rich.text import Text

    from .safe import safe_text

    con = console()
    todo = items if (all_cases or case is not None) else [d for d in items if d.ruling is None]
    if not todo:
        ruled = len(items) - len(todo)
        con.print(
            f"run {rid}: no disagreement left to review ({len(items)} in all, {ruled} already ruled on; "
            "--all to review those again)"
        )
        return
    recorded = skipped = 0
    for i, d in enumerate(todo, start=1):
        con.rule(safe_text(f"{i}/{len(todo)} · {d.case_id}", one_line=True))
        show_disagreement(con, d)
        key = _ask(con, PROMPT, ["h", "a", "u", "s", "q"])
        if key in (None, "q"):
            break
        if key == "s":
            skipped += 1
            continue
        text = _ask(con, "Note (why; Enter for none)", None)
        if text is None:  # end of input before the note: record nothing
            break
        r = save_ruling(s, d, KEYS[key], text, by=by)
        from ..evals.rulings import ruling_text

        con.print(Text("recorded ", style="green") + safe_text(ruling_text(r.ruling, r.ruled_by, r.note)))
        recorded += 1
    con.print(f"{plural(recorded, 'ruling')} recorded, {skipped} skipped; `shadowpilot gate` re-scores with them.")


def stdin_is_terminal() -> bool:
    """Whether the interactive review has someone to ask (tests that type the answers replace it)."""
    return sys.stdin.isatty()


def _ask(con: Console, prompt: str, choices: list[str] | None) -> str | None:
    """A prompt on the terminal; None at end of input (treated as quit)."""
    from rich.prompt import Prompt

    try:
        if choices is None:
            return Prompt.ask(prompt, console=con, default="", show_default=False)
        return Prompt.ask(prompt, console=con, choices=choices, case_sensitive=False, show_choices=False).lower()
    except EOFError:
        return None


def _print_list(con: Console, rid: str, items: list[Disagreement]) -> None:
    from rich import box
    from rich.text import Text

    from ..evals.rulings import RULING_LABEL
    from .safe import safe_text
    from .tables import Column, fitted_table, print_whole

    if not items:
        con.print(f"run {rid}: no disagreements between the AI and the human")
        return
    columns = [Column("case", id=True), Column("what differs"), Column("ruling")]
    rows = []
    for d in items:
        r = d.ruling
        shown = Text("not ruled", style="dim") if r is None else safe_text(f"{RULING_LABEL[r.ruling]} ({r.ruled_by})")
        rows.append(
            (
                safe_text(
                    d.case_id + (" (critical)" if d.critical else ""), "bold red" if d.critical else "", one_line=True
                ),
                safe_text(d.why),
                shown,
            )
        )
    title = safe_text(f"Disagreements · {rid}", one_line=True)
    print_whole(con, fitted_table(con, columns, rows, title=title, title_justify="left", box=box.SIMPLE_HEAD))


def _value(v: Any) -> str:
    if v is None or v == {}:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def show_disagreement(con: Console, d: Disagreement) -> None:
    """The conversation numbered by customer turn (from 1, as every report says it), then both
    decisions and routing side by side."""
    from rich.table import Table
    from rich.text import Text

    from ..evals.rulings import ruling_text
    from ..wording import customer_turn_from_ordinal, customer_turn_number
    from .safe import safe_text

    t, o, ai = d.transcript, d.transcript.outcome, d.ai
    head = safe_text(d.case_id, "bold", one_line=True) + safe_text(f" · {t.channel}", one_line=True)
    if d.critical:
        head.append(" · critical", style="bold red")
    if t.tags:
        head.append(safe_text(f" · {', '.join(t.tags)}", one_line=True))
    con.print(head)
    con.print(safe_text(f"failed: {d.why}", "red"))
    if d.ruling is not None:
        con.print(safe_text(f"current {ruling_text(d.ruling.ruling, d.ruling.ruled_by, d.ruling.note)}", "yellow"))

    conv = Table(show_header=True, box=None, pad_edge=False)
    conv.add_column("customer turn", justify="right", style="dim")
    conv.add_column("speaker", no_wrap=True)
    conv.add_column("text")
    conv.add_column("", no_wrap=True)
    for i, turn in enumerate(t.turns):
        marks = []
        if o.escalated and o.at_turn == i:
            marks.append(("◀ human escalated", "cyan"))
        if ai.escalated and ai.turn == i:
            marks.append(("◀ AI escalated", "magenta"))
        mark = Text(" ").join(Text(m, style=st) for m, st in marks) if marks else Text("")
        number = customer_turn_number(t.turns, i) if turn.speaker == "customer" else None
        conv.add_row("" if number is None else str(number), turn.speaker, safe_text(turn.text), mark)
    con.print(conv)

    side = Table(title="Human vs AI", title_justify="left", show_lines=False, pad_edge=False)
    side.add_column("")
    side.add_column("human", style="cyan")
    side.add_column("AI", style="magenta")
    at_h = customer_turn_number(t.turns, o.at_turn) if o.escalated else None
    rows: list[tuple[str, Any, Any]] = [
        ("escalate", o.escalated, ai.escalated),
        ("at customer turn", at_h, customer_turn_from_ordinal(ai.customer_turn)),
        ("reason", o.reason, ai.reason),
        ("urgency", o.urgency, ai.urgency),
        ("queue", o.queue, ai.queue),
    ]
    routing_ai = ai.routing
    for name in [*o.routing, *(k for k in routing_ai if k not in o.routing)]:
        rows.append((name, o.routing.get(name), routing_ai.get(name)))
    for label, h, a in rows:
        differs = _value(h).lower() != _value(a).lower()
        side.add_row(
            safe_text(label, "bold red" if differs else "bold", one_line=True),
            safe_text(_value(h)),
            safe_text(_value(a)),
        )
    if d.ai_reply:
        side.add_row("AI reply", "", safe_text(d.ai_reply))
    con.print(side)
