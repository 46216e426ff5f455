"""`shadowpilot judge`: the optional LLM judge scores a run's replies against the human's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from ..formatting import usd
from ..wording import customer_turn_label, plural
from .common import JSON_OPTION, RUN_REF, console, emit_json, guarded, settings

if TYPE_CHECKING:
    from ..types import Judgement
    from ..workflow import JudgeReport


@guarded
def command(
    ctx: typer.Context,
    run_id: str | None = typer.Option(
        None, "--run", help=f"The run to judge: {RUN_REF} (default: the latest complete run)."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ask the judge even where the cache has its answer."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Have an LLM judge score each agent reply against the human's next reply (needs [judge] enabled).

    Correctness, policy and tone, 1-5 each with a reason, on the [judge] rubric (default: the
    built-in one). The judgements are stored with the run; `gate` shows them, and gates on them
    when [judge] min_score is set. Answers are cached: judging an unchanged run again makes no
    requests (--no-cache asks again). A reply the judge cannot score is a judge error, never a score.
    """
    from .. import workflow
    from .progress import tally

    s = settings(ctx)
    fields = "replies · {task.fields[errors]} errors · {task.fields[hits]} cached · ${task.fields[spend]:.4f}"
    with tally("judging", fields, {"errors": 0, "hits": 0, "spend": 0.0}, transient=as_json) as bar:

        def done(row: Judgement) -> None:
            spend = 0.0 if row.cached else row.cost_usd or 0.0
            bar.add(errors=row.error is not None, hits=row.cached, spend=spend)

        rep = workflow.judge(s, run_id, use_cache=not no_cache, on_start=bar.start, on_result=done)
    if as_json:
        emit_json(_payload(rep))
        return
    _print(rep)


def _payload(rep: JudgeReport) -> dict[str, Any]:
    return {
        "run_id": rep.run_id,
        "model": rep.model,
        "rubric": rep.rubric,
        "rubric_hash": rep.rubric_hash,
        "replies": rep.replies,
        "requests": rep.requests,
        "retries": rep.retries,
        "cache_hits": rep.cache_hits,
        "spent_usd": round(rep.spent_usd, 6),
        "redacted": rep.redacted,
        "summary": rep.summary.model_dump(mode="json") if rep.summary else None,
    }


def _print(rep: JudgeReport) -> None:
    from rich.table import Table
    from rich.text import Text

    from .safe import safe_text

    con = console()
    rubric = rep.rubric or "built-in rubric"
    con.print(
        Text("judge ")
        + safe_text(rep.model, "bold")
        + safe_text(
            f" · {rubric} ({rep.rubric_hash[:12]}) · run {rep.run_id}"
            + (" · personal data redacted" if rep.redacted else "")
        )
    )
    j = rep.summary
    if j is None:
        con.print("nothing to judge: no agent reply in this run has a human reply to compare with")
    else:
        figures = Table.grid(padding=(0, 2))
        figures.add_column(style="bold")
        figures.add_column()
        if j.score is not None:
            over = f"{plural(j.turns, 'reply', 'replies')} in {plural(j.cases, 'case')}"
            figures.add_row(
                "Score", Text(f"{j.score:.3f} (mean of (average of the three - 1) / 4, in [0, 1]) over {over}")
            )
            for name in ("correctness", "policy", "tone"):
                figures.add_row(name.capitalize(), Text(f"{getattr(j, name):.2f} / 5"))
        else:
            figures.add_row("Score", Text("no reply could be scored"))
        if j.errors:
            figures.add_row(
                "Errors",
                Text(
                    f"{plural(j.errors, 'reply', 'replies')} could not be judged (not scored; "
                    "judge again to retry them)",
                    style="yellow",
                ),
            )
        con.print(figures)
        if j.worst:
            from .tables import Column, fitted_table, print_whole

            columns = [
                Column("case", id=True),
                Column("customer turn", drop=1),
                Column("score", no_wrap=True),
                Column("C/P/T", drop=2, no_wrap=True),
                Column("the judge's reasons"),
            ]
            rows = []
            for t in j.worst:
                reasons = "\n".join(f"{k}: {v}" for k, v in t.reasons.items())
                turn = "?" if t.customer_turn is None else str(t.customer_turn)
                rows.append(
                    (
                        safe_text(t.case_id + (f" (repeat {t.repeat})" if t.repeat else ""), one_line=True),
                        turn,
                        f"{t.score:.2f}",
                        f"{t.correctness}/{t.policy}/{t.tone}",
                        safe_text(reasons),
                    )
                )
            title = "Lowest-scored replies"
            print_whole(con, fitted_table(con, columns, rows, title=title, title_justify="left", pad_edge=False))
        for t in j.failed:
            where = customer_turn_label(t.customer_turn)
            con.print(safe_text(f"judge error on {t.case_id} {where}: {t.error}", "yellow"))
    con.print(
        f"{plural(rep.requests, 'request')} made ({plural(rep.retries, 'retry', 'retries')}), "
        f"{plural(rep.cache_hits, 'cache hit')}, "
        f"{usd(rep.spent_usd, grouped=False)} spent"
    )
