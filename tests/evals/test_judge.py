"""The optional LLM judge, through the real CLI, against the local OpenAI-compatible test server.

A recorded agent gives known replies; the fake judge model answers JSON that depends on the
reply it is shown, so every stored score, mean and gate decision is worked out by hand here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shadowpilot.config import load_settings
from shadowpilot.store import Store
from tests.conftest import invoke, make_case, write_config, write_jsonl
from tests.servers.openai_server import OpenAIServer, Reply

MARK = "AI agent's reply (to judge):\n"

# What the fake judge says about a reply, by a word in it: (correctness, policy, tone).
VERDICTS = {"GOOD": (5, 5, 5), "RUDE": (4, 3, 1), "MEH": (3, 3, 3)}


def judged_reply(body: dict[str, Any]) -> str:
    user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    return user.split(MARK, 1)[1]


def judge_policy(body: dict[str, Any]) -> Reply:
    reply = judged_reply(body)
    if "BROKEN" in reply:
        return Reply(content='{"correctness": {"score": 5, "reason": "fine"}, "policy": ')  # cut-off JSON
    if "OUTOFRANGE" in reply:
        return Reply(content=json.dumps({c: {"score": 7, "reason": "x"} for c in ("correctness", "policy", "tone")}))
    word = next(w for w in VERDICTS if w in reply)
    c, p, t = VERDICTS[word]
    return Reply(
        content=json.dumps(
            {
                "correctness": {"score": c, "reason": f"correctness of {word}"},
                "policy": {"score": p, "reason": f"policy of {word}"},
                "tone": {"score": t, "reason": f"tone of {word}"},
            }
        ),
        prompt_tokens=1000,
        completion_tokens=100,
    )


def norm(c: int, p: int, t: int) -> float:
    return ((c + p + t) / 3 - 1) / 4


def setup_run(
    tenant_dir: Path,
    cli,
    server: OpenAIServer,
    replies: dict[str, list[str]],
    extra: str = "",
    cases: list[dict] | None = None,
) -> str:
    """Cases with one customer turn per reply, a recorded agent giving `replies`, a finished run."""
    cases = cases or [make_case(cid, [f"question {k}" for k in range(len(rs))]) for cid, rs in replies.items()]
    lines = [
        {"case_id": cid, "turn": 2 * k, "escalate": False, "reply": r}
        for cid, rs in replies.items()
        for k, r in enumerate(rs)
    ]
    write_jsonl(tenant_dir / "recs.jsonl", lines)
    write_config(
        tenant_dir,
        f"""
[agent]
kind = "recorded"
path = "recs.jsonl"

[gate]
min_cases = 1

[judge]
enabled = true
model = "gpt-4o-mini"
base_url = "{server.base_url}"
max_retries = 2
{extra}
""",
    )
    assert invoke(cli, "import", str(write_jsonl(tenant_dir / "cases.jsonl", cases))).exit_code == 0
    ran = invoke(cli, "run", "--json")
    assert ran.exit_code == 0, ran.stderr
    return json.loads(ran.stdout)["run_id"]


def judge_json(cli, *args: str) -> dict[str, Any]:
    result = invoke(cli, "judge", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def gate_json(cli, rid: str) -> tuple[int, dict[str, Any]]:
    result = invoke(cli, "gate", "--run", rid, "--json")
    return result.exit_code, json.loads(result.stdout)


def check(gate: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in gate["checks"] if c["name"] == name)


def test_judge_scores_stores_reasons_caches_and_gates(tenant_dir, cli, monkeypatch):
    rubric = tenant_dir / "rubric.md"
    rubric.write_text("ACME RUBRIC v1: never promise refunds; be warm.\n", encoding="utf-8")
    replies = {"c1": ["GOOD answer", "RUDE answer"], "c2": ["GOOD again"]}
    with OpenAIServer(judge_policy) as server:
        rid = setup_run(tenant_dir, cli, server, replies, 'rubric = "rubric.md"\nmin_score = 0.8')

        # gated on the judge before judging: the check fails and says what to do
        code, gate = gate_json(cli, rid)
        assert code == 3 and gate["judge"] is None
        judge_c = check(gate, "judge")
        assert not judge_c["passed"] and "has not been judged" in judge_c["detail"]
        assert "shadowpilot judge" in judge_c["detail"]

        first = judge_json(cli, "--run", rid)
        bodies = server.requests
        assert first["requests"] == 3 == len(bodies) and first["cache_hits"] == 0
        assert first["redacted"] is False  # loopback endpoint, redaction mode auto
        # the tenant's rubric reaches the judge, with the JSON answer format and a non-streamed request
        for body in bodies:
            assert body["model"] == "gpt-4o-mini"
            assert body["response_format"] == {"type": "json_object"}
            assert not body.get("stream")
            assert "ACME RUBRIC v1: never promise refunds" in body["messages"][0]["content"]
        # the human's next reply and the conversation so far are shown to the judge
        second_turn = next(b for b in bodies if "RUDE" in judged_reply(b))["messages"][1]["content"]
        assert "Customer: question 0\nHuman agent: agent reply 0\nCustomer: question 1" in second_turn
        assert "Human agent's reply (the reference):\nagent reply 1" in second_turn

        # hand-computed: GOOD = 1.0, RUDE = ((4+3+1)/3 - 1)/4 = 5/12, mean over 3 replies
        s = first["summary"]
        assert s["turns"] == 3 and s["cases"] == 2 and s["errors"] == 0
        assert s["score"] == pytest.approx((2 * norm(5, 5, 5) + norm(4, 3, 1)) / 3, abs=1e-4)
        assert s["correctness"] == pytest.approx(14 / 3, abs=1e-3)
        assert s["policy"] == pytest.approx(13 / 3, abs=1e-3)
        assert s["tone"] == pytest.approx(11 / 3, abs=1e-3)
        assert s["worst"][0]["case_id"] == "c1" and s["worst"][0]["turn"] == 2
        assert s["worst"][0]["customer_turn"] == 2  # transcript index 2 is the customer's 2nd line
        assert s["worst"][0]["reasons"]["tone"] == "tone of RUDE"
        # cost from the price table: gpt-4o-mini, 1000 in and 100 out per request
        assert first["spent_usd"] == pytest.approx(3 * (1000 * 0.15 + 100 * 0.60) / 1e6)

        # stored: scores, reasons, model and rubric hash per judged turn
        settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
        with Store.open(settings.store_path, create=False) as store:
            rows = store.judgements(rid)
        assert len(rows) == 3 and set(rows["model"]) == {"gpt-4o-mini"}
        rude = rows[(rows["case_id"] == "c1") & (rows["turn"] == 2)].iloc[0]
        assert (rude["correctness"], rude["policy"], rude["tone"]) == (4, 3, 1)
        assert json.loads(rude["reasons"]) == {
            "correctness": "correctness of RUDE",
            "policy": "policy of RUDE",
            "tone": "tone of RUDE",
        }
        assert rows["rubric_hash"].nunique() == 1

        # judging again: every answer from the cache, no request
        again = judge_json(cli, "--run", rid)
        assert again["requests"] == 0 and again["cache_hits"] == 3 and again["spent_usd"] == 0
        assert len(server.requests) == 3
        assert again["summary"]["score"] == s["score"]

        # the gate reads the stored judgements: 29/36 = 0.806 clears 0.8 ...
        code, gate = gate_json(cli, rid)
        assert gate["judge"]["score"] == s["score"] and check(gate, "judge")["passed"]
        assert code == 0, gate["explanation"]
        # ... and not 0.81; the gate makes no judge request either way
        monkeypatch.setenv("SHADOWPILOT_JUDGE_MIN_SCORE", "0.81")
        code, gate = gate_json(cli, rid)
        assert code == 3 and not check(gate, "judge")["passed"] and gate["verdict"] == "no-go"
        assert len(server.requests) == 3
        monkeypatch.delenv("SHADOWPILOT_JUDGE_MIN_SCORE")
        shown = invoke(cli, "gate", "--run", rid)
        assert "Judge" in shown.stdout and "0.806" in shown.stdout

        # an edited rubric is a new judge: every reply is asked again
        rubric.write_text("ACME RUBRIC v2: refunds allowed under $20.\n", encoding="utf-8")
        edited = judge_json(cli, "--run", rid)
        assert edited["requests"] == 3 and edited["cache_hits"] == 0
        assert all("ACME RUBRIC v2" in b["messages"][0]["content"] for b in server.requests[3:])
        assert edited["summary"]["rubric_hash"] != s["rubric_hash"]

        # --no-cache asks again even though the cache has every answer
        fresh = judge_json(cli, "--run", rid, "--no-cache")
        assert fresh["requests"] == 3 and fresh["cache_hits"] == 0 and len(server.requests) == 9

        # the human-readable output: means, the worst reply with its reasons, requests and cost
        out = invoke(cli, "judge", "--run", rid)
        text = " ".join(out.stdout.replace("│", " ").split())
        assert "0.806" in text and "tone of RUDE" in text and "0 requests made" in text and "3 cache hits" in text
        assert "customer turn" in out.stdout and " c1 2 0.42 " in text  # the row names customer turn 2


def test_malformed_judge_output_is_a_judge_error_not_a_score(tenant_dir, cli):
    replies = {"c1": ["GOOD answer", "BROKEN answer"], "c2": ["OUTOFRANGE answer", "MEH answer"]}
    with OpenAIServer(judge_policy) as server:
        rid = setup_run(tenant_dir, cli, server, replies, "min_score = 0.1")
        server.add_fault("429", retry_after="0")  # a rate limit is retried, not an error
        first = judge_json(cli, "--run", rid)
        assert first["requests"] == 5 and first["retries"] == 1
        s = first["summary"]
        # only GOOD (1.0) and MEH (0.5) are scores
        assert s["turns"] == 2 and s["errors"] == 2
        assert s["score"] == pytest.approx((norm(5, 5, 5) + norm(3, 3, 3)) / 2)
        errors = {(t["case_id"], t["turn"]): t["error"] for t in s["failed"]}
        assert "not JSON" in errors[("c1", 2)]
        assert "correctness.score" in errors[("c2", 0)]

        settings = load_settings(tenant_dir / "shadowpilot.toml", environ={})
        with Store.open(settings.store_path, create=False) as store:
            rows = store.judgements(rid)
        bad = rows[rows["error"].notna()]
        assert len(bad) == 2 and bad["score"].isna().all() and bad["correctness"].isna().all()

        # a reply the judge could not score is not a pass: the check fails even though 0.75 >= 0.1
        code, gate = gate_json(cli, rid)
        judge_c = check(gate, "judge")
        assert code == 3 and not judge_c["passed"] and "2 replies could not be judged" in judge_c["detail"]

        # errors are not cached: judging again asks only for the two that failed
        again = judge_json(cli, "--run", rid)
        assert again["requests"] == 2 and again["cache_hits"] == 2


def test_redaction_keeps_planted_personal_data_off_the_wire(tenant_dir, cli):
    phone, email = "415-555-0134", "jane.doe@example.com"
    case = make_case("p1", [f"Hi, call me on {phone} or mail {email} please"])
    case["turns"][1]["text"] = f"Sure, I have {phone} and {email} on file."
    with OpenAIServer(judge_policy) as server:
        rid = setup_run(
            tenant_dir,
            cli,
            server,
            {"p1": [f"GOOD: I will call {phone}"]},
            '\n[redaction]\nmode = "always"',
            cases=[case],
        )
        out = judge_json(cli, "--run", rid)
        assert out["redacted"] is True and out["summary"]["turns"] == 1
        wire = json.dumps(server.requests)
        assert phone not in wire and email not in wire and "555" not in wire
        # one set of placeholders across the conversation and both replies
        user = server.requests[0]["messages"][1]["content"]
        assert user.count("[PHONE_1]") == 3 and user.count("[EMAIL_1]") == 2


def test_judge_must_be_turned_on(tenant_dir, cli):
    write_config(tenant_dir, '[judge]\nmodel = "gpt-4o-mini"\n')
    result = invoke(cli, "judge")
    assert result.exit_code == 2 and "enabled = true" in result.stderr


def test_judge_requests_are_bounded_by_concurrency(tenant_dir, cli):
    replies = {f"c{i}": ["GOOD answer", "MEH answer"] for i in range(6)}
    with OpenAIServer(judge_policy, latency_s=0.05) as server:
        rid = setup_run(tenant_dir, cli, server, replies, "concurrency = 3")
        out = judge_json(cli, "--run", rid)
        assert out["requests"] == 12 and out["summary"]["turns"] == 12
        assert server.peak_concurrency == 3
