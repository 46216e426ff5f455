"""Scoring at scale: 100,000 synthetic cases (about 1,000,000 turns) with recorded
recommendations in a temporary store; times import, scoring and the gate.

    .venv/bin/python bench/score_scale.py [--cases 100000] [--seed 7]

Two processes, so each phase reports its own peak memory. Import path: Transcripts through
Store.add_cases and CallRuns (what the recorded agent would produce) through Store.add_call_runs,
in batches; not the JSONL reader. Every customer turn the
replay would reach has a step with a reply; the human's replies and the agent's differ, so every
reply pair is aligned. Prints seconds, cases per second and peak memory (ru_maxrss).
Target on a 2-core machine: scoring + gate over 100,000 cases in under 20 s and 2 GiB.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shadowpilot import workflow
from shadowpilot.config import Settings
from shadowpilot.evals.gate import evaluate_gate
from shadowpilot.evals.score import STORED_COLUMNS
from shadowpilot.store import Store
from shadowpilot.types import AgentStep, CallRun, Outcome, Recommendation, RunManifest, Transcript, Turn

_CUSTOMER = (
    "i need to book an appointment for my son next tuesday morning please can you check if doctor "
    "patel has any time this week my card was charged twice for the same visit and i want a refund "
    "the portal will not let me log in since the update what are your opening hours on saturday "
    "thank you so much that works for me um actually could we make it three thirty instead"
)
_HUMAN = (
    "of course let me check that for you one moment i can see an opening at nine fifteen or two "
    "forty five which would you prefer i have booked that and you will get a text confirmation "
    "i am sorry about the double charge i will pass this to our billing team right away"
)
WORDS, HUMAN = _CUSTOMER.split(), _HUMAN.split()
TAGS = ["billing", "scheduling", "clinical", "portal", "complaint", "vip", "prescriptions"]
REASONS = ["billing_dispute", "complaint", "clinical_emergency", "requested_human"]
ROUTE = {"skill": "billing", "priority": "high", "vip": False}


def _say(rng: random.Random, vocab: list[str], lo: int, hi: int) -> str:
    return " ".join(rng.choices(vocab, k=rng.randint(lo, hi))).capitalize() + rng.choice([".", "?", "!"])


def synth(n: int, seed: int, offset: int = 0) -> tuple[list[Transcript], list[tuple[str, list[tuple[int, bool, str]]]]]:
    """Cases of 10 turns (5 customer, 5 human) and, per case, the agent's steps:
    (customer turn, escalate, reply). About 30% escalated by the human; the agent agrees on ~90%."""
    rng = random.Random(seed)
    day0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
    cases, plans = [], []
    for i in range(n):
        turns = []
        for _ in range(5):
            turns.append(Turn(speaker="customer", text=_say(rng, WORDS, 4, 16)))
            turns.append(Turn(speaker="agent", text=_say(rng, HUMAN, 4, 18)))
        escalated = rng.random() < 0.3
        at = rng.randint(0, 4) if escalated else None
        outcome = Outcome(
            escalated=escalated,
            at_turn=None if at is None else 2 * at,
            reason=rng.choice(REASONS) if escalated else None,
            routing=ROUTE if escalated else {},
        )
        cid = f"c{offset + i:06d}"
        cases.append(
            Transcript(
                id=cid,
                tenant="bench",
                channel=rng.choice(["voice", "voice", "chat"]),
                started_at=day0 + timedelta(days=i % 5),
                turns=turns,
                outcome=outcome,
                critical=False,
                tags=rng.sample(TAGS, k=rng.randint(0, 2)),
            )
        )
        agree = rng.random() < 0.9
        agent_at = (at if agree else None) if escalated else (None if agree else rng.randint(0, 4))
        if agent_at is not None and agree and rng.random() < 0.1:
            agent_at = min(4, agent_at + 2)  # late
        last = 4 if agent_at is None else agent_at
        plans.append((cid, [(k, k == agent_at, _say(rng, HUMAN, 4, 18)) for k in range(last + 1)]))
    return cases, plans


def call_runs(plans, fps: dict[str, str]) -> list[CallRun]:
    out = []
    for cid, steps in plans:
        s = []
        for k, esc, reply in steps:
            rec = Recommendation(
                case_id=cid,
                turn=2 * k,
                escalate=esc,
                reply=reply,
                routing=ROUTE if esc else {},
                reason="billing_dispute" if esc else None,
                summary="caller wants a refund" if esc else None,
                sentiment="negative" if esc else None,
                latency_ms=600.0 + (k * 37) % 500,
                first_token_ms=300.0 + (k * 53) % 400,
                cost_usd=0.0004,
            )
            s.append(AgentStep(turn=2 * k, customer_turn=k, recommendation=rec))
        out.append(CallRun(case_id=cid, fingerprint=fps[cid], steps=s))
    return out


def peak_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def build(store_dir: Path, n: int, seed: int) -> None:
    """Phase 1: synthesise and import in batches of 20,000 cases (bounded memory)."""
    settings = Settings(root=store_dir)
    t_synth = t_cases = t_runs = 0.0
    turns = steps = 0
    fps_all: dict[str, str] = {}
    batch = 20_000
    with Store.open(settings.store_path) as store:
        manifest = RunManifest(
            run_id="run-bench",
            created_at=datetime.now(UTC),
            tenant="bench",
            agent={"kind": "recorded"},
            cases={},
            versions={},
        )
        store.create_run(manifest)
        for start in range(0, n, batch):
            t0 = time.perf_counter()
            cases, plans = synth(min(batch, n - start), seed + start, offset=start)
            t_synth += time.perf_counter() - t0
            turns += sum(len(c.turns) for c in cases)
            steps += sum(len(p[1]) for p in plans)
            t0 = time.perf_counter()
            store.add_cases([(c, "bench") for c in cases])
            t_cases += time.perf_counter() - t0
            fps = {c.id: c.fingerprint() for c in cases}
            fps_all.update(fps)
            runs = call_runs(plans, fps)
            t0 = time.perf_counter()
            store.add_call_runs(manifest.run_id, runs)
            t_runs += time.perf_counter() - t0
        store.finish_run(manifest.run_id, "complete", manifest.model_copy(update={"cases": fps_all}))
    print(f"synthesised {n:,} cases, {turns:,} turns, {steps:,} agent steps (with replies) in {t_synth:.1f} s")
    print(
        f"import: Store.add_cases {t_cases:.1f} s ({n / t_cases:,.0f} cases/s); "
        f"run: Store.add_call_runs {t_runs:.1f} s ({steps / t_runs:,.0f} steps/s)"
    )
    print(f"  build phase peak memory (ru_maxrss): {peak_mib():,.0f} MiB")


def score(store_dir: Path) -> None:
    """Phase 2, in a fresh process so its peak memory is its own: score, gate, save."""
    settings = Settings(root=store_dir)
    with Store.open(settings.store_path) as store:
        t0 = time.perf_counter()
        scores, result = workflow.evaluate(store, "run-bench", settings)
        t_score = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = evaluate_gate(
            scores, settings.gate, "run-bench", budgets=settings.budgets, timings=store.step_timings("run-bench")
        )
        t_gate = time.perf_counter() - t0
        t0 = time.perf_counter()
        store.save_scores("run-bench", scores[STORED_COLUMNS], result)
        t_save = time.perf_counter() - t0
    n = result.cases
    peak = peak_mib()
    print(
        f"scoring + gate (workflow.evaluate: store reads, all scorers, the gate): {t_score:.2f} s "
        f"-> {n / t_score:,.0f} cases/s"
    )
    print(f"gate alone (evaluate_gate on scored cases): {t_gate:.2f} s; saving scores: {t_save:.2f} s")
    print(f"scoring phase peak memory (ru_maxrss): {peak:,.0f} MiB")
    r = result.reply
    print(
        f"verdict {result.verdict}: {result.passed_cases:,}/{n:,} passed ({result.pass_rate:.1%}); "
        f"reply turns {r.turns if r else 0:,}, similarity {r.similarity if r else None}; "
        f"latency p95 {result.latency.first_token_p95} / {result.latency.full_reply_p95} ms; "
        f"weighted {result.weighted_score}"
    )
    ok = t_score < 20 and peak < 2048
    print("target (scoring + gate < 20 s, < 2 GiB):", "met" if ok else "NOT met")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--phase", choices=["build", "score"], help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase == "build":
        return build(args.dir, args.cases, args.seed)
    if args.phase == "score":
        return score(args.dir)
    with tempfile.TemporaryDirectory() as tmp:
        for phase in ("build", "score"):
            cmd = [
                sys.executable,
                __file__,
                "--phase",
                phase,
                "--dir",
                tmp,
                "--cases",
                str(args.cases),
                "--seed",
                str(args.seed),
            ]
            subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
