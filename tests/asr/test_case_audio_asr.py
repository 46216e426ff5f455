"""A stored case's customer channel, as `run --audio` will take it, heard by the real local engine:
the dual-channel recording imported through the CLI, the customer's side read back with
workflow.customer_audio and transcribed by faster-whisper tiny.en. Keywords, not exact strings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import jiwer

from shadowpilot.asr.local import LocalEngine
from shadowpilot.config import load_settings
from shadowpilot.evals.reply import normalise
from shadowpilot.store import Store
from shadowpilot.workflow import customer_audio
from tests import recordings
from tests.conftest import invoke, make_case, write_jsonl

AGENT = "Good morning, this is the pharmacy, how may I help you today?"
CUSTOMER = "My prescription refill was refused and I need my insulin."


def test_the_customer_channel_is_what_the_engine_hears(local_engine: LocalEngine, tenant_dir: Path, cli) -> None:
    recordings.dual(tenant_dir, AGENT, CUSTOMER, "call")  # the customer on channel 2, Twilio's default
    case = {**make_case("c", ["My prescription refill was refused"]), "audio": "call.wav"}
    done = invoke(cli, "import", str(write_jsonl(tenant_dir / "c.jsonl", [case])))
    assert done.exit_code == 0, done.stderr
    s = load_settings(tenant_dir / "shadowpilot.toml", environ={})
    with Store.open(s.store_path) as store:
        (stored,) = store.current_cases()
    heard = normalise([asyncio.run(local_engine.transcribe(customer_audio(s, stored))).text])[0].split()
    # tiny.en's int8 decoding differs with the CPU it runs on ("prescription refill was refused" came
    # out as "trip should reveal 1 repume" on one machine): the words it hears on every one, and
    # the customer's text nearer than the agent's, which is what says which channel was heard
    assert {"need", "insulin"} <= set(heard), heard
    said = " ".join(heard)
    assert jiwer.wer(normalise([CUSTOMER])[0], said) < jiwer.wer(normalise([AGENT])[0], said), heard
    assert not {"morning", "pharmacy"} & set(heard), heard  # the agent's side is not in it
