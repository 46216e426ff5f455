"""Markdown: a summary for a pull request or GitHub's step summary (verdict, figures, failing
cases, and what changed since a baseline run). Short by design: the HTML report has every case."""

from __future__ import annotations

import re

from ..controls import visible
from ..evals.compare import Comparison
from ..formatting import ms, percent, points, usd
from ..types import GateResult
from ..wording import customer_turn_label, plural
from .data import CaseReport, Hearing, ReportData, case_wer_text, flip_text, hearing_figures

VERDICT = {"go": "GO", "no-go": "NO-GO", "insufficient-evidence": "INSUFFICIENT EVIDENCE"}
VERDICT_ICON = {"go": "✅", "no-go": "❌", "insufficient-evidence": "⚠️"}
MAX_ROWS = 50  # GitHub caps a step summary at 1 MiB; past this, the HTML report has the rest


# What Markdown (GitHub's included) would read as syntax inline: emphasis, code, links and images,
# raw HTML and entities, strikethrough, a table's cell break, and the backslash itself.
_MD_ACTIVE = re.compile(r"([\\`*_\[\]<>&|~])")


# What GitHub's autolink extension (GFM "extended autolinks") turns into a link with no syntax at
# all: a scheme's `://`, a `www.` and an email address. The first two are broken by a backslash
# escape, as the rest (`https\://x`, `www\.x` read as the same text). An email is linked after the
# text is put back together, escapes undone (checked on cmark-gfm), so it gets a WORD JOINER
# (U+2060: invisible, no break) after its `@`, and no domain starts there.
_AUTOLINK_URL = re.compile(r"://")
_AUTOLINK_WWW = re.compile(r"(?i)\b(www)\.")
_AUTOLINK_EMAIL = re.compile(r"@(?=[\w-])")
WORD_JOINER = "\u2060"


def _no_autolink(text: str) -> str:
    text = _AUTOLINK_URL.sub(r"\\://", text)
    text = _AUTOLINK_WWW.sub(r"\1\\.", text)
    return _AUTOLINK_EMAIL.sub("@" + WORD_JOINER, text)


def _cell(text: object) -> str:
    """Data as literal inline Markdown text, safe in a table cell, a list item or a heading: its
    syntax backslash-escaped (no link, image or HTML can come of a case id), bare URLs, `www.`
    and email addresses kept from autolinking, one line, control characters written out."""
    return _no_autolink(_MD_ACTIVE.sub(r"\\\1", visible(text, one_line=True)))


def _code(text: object) -> str:
    """Data as one inline code span: fenced with more backticks than it holds in a row, so
    none in it can close the span early; one line, control characters written out."""
    body = visible(text, one_line=True)
    fence = "`" * (max((len(run) for run in re.findall("`+", body)), default=0) + 1)
    pad = " " if body.startswith(("`", " ")) or body.endswith(("`", " ")) else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def gate_summary(g: GateResult) -> list[str]:
    lo, hi = g.pass_rate_ci
    e, r = g.escalation, g.routing
    lines = [
        f"**Verdict: {VERDICT_ICON[g.verdict]} {VERDICT[g.verdict]}** — {_cell(g.explanation)}",
        "",
        *([f"> ⚠️ {_cell(g.evidence.caution)}", ""] if g.evidence is not None and g.evidence.caution else []),
        "| | |",
        "|---|---|",
        f"| Pass rate | {percent(g.pass_rate)} ({g.passed_cases}/{g.cases}) |",
        f"| 95% interval (Wilson) | {percent(lo)} to {percent(hi)} |",
        f"| Bar | {percent(g.bar)}{' (lower bound must clear it)' if g.config.use_lower_bound else ''} |",
        f"| Agent errors | {g.errors} |",
        f"| Critical cases failed | {', '.join(_cell(c) for c in g.critical_failed) or 'none'} |",
    ]
    if g.pass_k is not None:
        pk = g.pass_k
        lines.append(f"| pass^{pk.k} | {percent(pk.pass_k_rate)} ({pk.pass_k}/{pk.cases}; {len(pk.flips)} flipped) |")
    lines += [
        "",
        "**Escalation** (cases)",
        "",
        "| escalated correctly | missed | unnecessary | correctly kept | early | late | precision | recall | F1 |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {e.tp} | {e.fn} | {e.fp} | {e.tn} | {e.early} | {e.late} | {percent(e.precision)} | "
        f"{percent(e.recall)} | {percent(e.f1)} |",
        "",
        f"**Routing** on the {plural(r.cases, 'case')} both escalated: {percent(r.accuracy)} fully correct",
        "",
        "| " + " | ".join(r.per_attribute) + " |",
        "|" + "---|" * len(r.per_attribute),
        "| " + " | ".join(percent(v) for v in r.per_attribute.values()) + " |",
        "",
    ]
    lines += _speed_and_cost(g)
    lines += [
        "**Checks**",
        "",
        *(f"- {'pass' if c.passed else 'FAIL'} · {_cell(c.name)}: {_cell(c.detail)}" for c in g.checks),
    ]
    return lines


def _speed_and_cost(g: GateResult) -> list[str]:
    lat, cost = g.latency, g.cost
    lines = ["**Latency and cost**", "", "| | p50 | p95 | budget |", "|---|---|---|---|"]
    if lat is not None and lat.turns:
        for name, p50, p95, budget in (
            ("First token", lat.first_token_p50, lat.first_token_p95, lat.first_token_budget),
            ("Full reply", lat.full_reply_p50, lat.full_reply_p95, lat.full_reply_budget),
        ):
            lines.append(f"| {name} | {ms(p50)} | {ms(p95)} | {ms(budget)} |")
    else:
        lines.append("| Latency | not measured | | |")
    if cost is not None and cost.per_call_mean is not None:
        cost_budget = usd(cost.budget) if cost.budget is not None else "not set"
        lines.append(
            f"| Cost per conversation | {usd(cost.per_call_mean)} (mean) | {usd(cost.per_call_p95)} | {cost_budget} |"
        )
        if cost.human_cost_per_call is not None:
            saving = f"; saving {usd(cost.saving_per_call)} per call" if cost.saving_per_call is not None else ""
            lines += ["", f"A call handled by a person costs {usd(cost.human_cost_per_call)}{saving}."]
    else:
        lines.append("| Cost per conversation | not measured | | |")
    return [*lines, ""]


def _hearing(h: Hearing) -> list[str]:
    """What the agent heard: the gate's hearing figures, the worst cases and turns, and the cases
    flipped by hearing against a baseline of the other kind; "not measured" for a text run."""
    lines = ["## Hearing", ""]
    if not h.measured:
        lines += ["Not measured: no customer turn was heard (a text run; an audio run hears the recordings).", ""]
    lines += ["| | |", "|---|---|", *(f"| {label} | {_cell(text)} |" for _, label, text in hearing_figures(h)), ""]
    if h.cases:
        lines += ["| case | ASR WER |", "|---|---|"]
        lines += [f"| {_cell(c.case_id)} | {_cell(case_wer_text(c))} |" for c in h.cases[:MAX_ROWS]]
        if len(h.cases) > MAX_ROWS:
            lines.append(f"| … and {len(h.cases) - MAX_ROWS} more | |")
        lines.append("")
    if h.worst_turns:
        lines.append("**Worst heard turns**")
        lines.append("")
        for t in h.worst_turns:
            lines.append(
                f"- {_code(t.case_id)}, {customer_turn_label(t.customer_turn)}: WER {t.wer:.3f} "
                f"({t.edits} / {t.ref_words} words)"
            )
        lines.append("")
    if h.flipped is not None:
        lines.append(
            f"**Flipped by hearing** against {_code(h.baseline_run)} ({len(h.flipped)})"
            + ("" if h.flipped else ": none")
        )
        lines.append("")
        lines += [f"- {_code(f.case_id)}: {_cell(flip_text(h, f))}" for f in h.flipped[:MAX_ROWS]]
        if len(h.flipped) > MAX_ROWS:
            lines.append(f"- and {len(h.flipped) - MAX_ROWS} more")
        lines.append("")
    return lines


def _decision(c: CaseReport) -> tuple[str, str]:
    human = "kept"
    if c.human.escalated:
        human = f"escalated at {customer_turn_label(c.human_at_customer_turn)} ({c.human.reason})"
    if c.error:
        agent = "error"
    elif c.agent.escalated:
        agent = f"escalated at {customer_turn_label(c.agent.at_customer_turn)} ({c.agent.reason})"
    else:
        agent = "kept"
    return human, agent


def _comparison(cmp: Comparison) -> list[str]:
    pr = cmp.metrics.get("pass_rate")
    lines = [
        f"## Compared with the baseline run {_code(cmp.run_a)}",
        "",
        _cell(cmp.explanation),
        "",
    ]
    if pr is not None and pr.delta is not None:
        lines += [
            f"Pass rate {percent(pr.a.value)} → {percent(pr.b.value)} ({points(pr.delta)} pts on the "
            f"{cmp.common} cases both runs scored).",
            "",
        ]
    for title, changes in (("Newly failing", cmp.newly_failing), ("Newly passing", cmp.newly_passing)):
        lines.append(f"**{title}** ({len(changes)})" + (":" if changes else ": none"))
        if changes:
            lines.append("")
            for ch in changes[:MAX_ROWS]:
                crit = " (critical)" if ch.critical else ""
                why = f": {_cell(ch.why)}" if ch.why and title == "Newly failing" else ""
                lines.append(f"- {_code(ch.case_id)}{crit}{why}")
            if len(changes) > MAX_ROWS:
                lines.append(f"- and {len(changes) - MAX_ROWS} more")
        lines.append("")
    return lines


def render_markdown(data: ReportData) -> str:
    g, m = data.gate, data.manifest
    agent = f"agent {_code(m.agent.get('kind'))}" + (f" (model {_code(data.agent_model)})" if data.agent_model else "")
    lines = [
        f"# Pilot report: {_cell(data.tenant)}",
        "",
        f"Run {_code(m.run_id)} ({m.mode}, {m.created_at:%Y-%m-%d %H:%M} UTC) · {agent}"
        + (f" · prompt {_code(m.prompt_hash)}" if m.prompt_hash else "")
        + f" · {plural(len(m.cases), 'case')}"
        + (f" (the {data.case_set} set)" if data.case_set else ""),
        "",
        data.redaction_note,
        "",
        *gate_summary(g),
        "",
    ]
    if data.to_go_live:
        lines += ["## What must change to go live", "", *(f"1. {_cell(item)}" for item in data.to_go_live), ""]
    if data.comparison is not None:
        lines += _comparison(data.comparison)
    lines += _hearing(data.hearing)
    failing = [c for c in data.cases if not c.passed]
    if failing:
        lines += [
            f"## Failing cases ({len(failing)})",
            "",
            "| case | critical | human | agent | why |",
            "|---|---|---|---|---|",
        ]
        for c in failing[:MAX_ROWS]:
            human, agent_did = _decision(c)
            crit = "yes" if c.critical else ""
            lines.append(f"| {_cell(c.case_id)} | {crit} | {_cell(human)} | {_cell(agent_did)} | {_cell(c.why)} |")
        if len(failing) > MAX_ROWS:
            lines.append(f"| … and {len(failing) - MAX_ROWS} more (see the HTML report) | | | | |")
        lines.append("")
    lines.append(f"_Generated by shadowpilot at {data.generated_at:%Y-%m-%d %H:%M} UTC._")
    return "\n".join(lines) + "\n"
