"""Live audio end to end: `shadow serve` under uvicorn takes Twilio Media Streams over a real WebSocket
(the `websockets` client), signed as Twilio signs; espeak-ng + sox speech as 8 kHz mu-law in 20 ms
frames on both tracks; the real local ASR (faster-whisper + the pinned tiny.en); the baseline agent.
Asserted on keywords, never exact strings (Whisper writes "3" for "three")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from shadowpilot.runners.shadow.media_log import stored_frames
from tests.asr.conftest import pinned_tiny_en
from tests.runners.shadow.conftest import call_of, shadow_client, wait_until
from tests.runners.shadow.media_sim import Frame, Stream, conversation, mulaw_of, open_stream, send_frames, signature
from tests.runners.shadow.twilio_sim import PUBLIC_URL, Call, ServerProcess, signed_form

# words tiny.en hears on espeak-ng telephone speech (it hears "supervisor" as "super-miner")
CUSTOMER = "I was charged twice. Let me talk to a real person please."
HUMAN = "Of course. One moment please, I am transferring you now."


def config(asr: str = 'kind = "local"\nlanguage = "en"') -> str:
    return f"""[tenant]
name = "acme"

[agent]
kind = "baseline"

[shadow]
public_url = "{PUBLIC_URL}"
reorder_window_s = 0.5
outcome_wait_s = 1
media_max_frames_per_s = 1000
media_burst_s = 3
media_idle_timeout_s = 3
media_fsync_ms = 50

[asr]
{asr}
"""


def start_server(folder: Path, asr: str | None = None) -> ServerProcess:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shadowpilot.toml").write_text(config() if asr is None else config(asr), encoding="utf-8")
    # the tree under test first, as the tests run it (ServerProcess would put the folder alone)
    paths = [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]
    return ServerProcess(folder, env={"PYTHONPATH": os.pathsep.join(paths)}).start()


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    from shadowpilot.asr import synth

    pinned_tiny_en()  # the servers hear with it ([asr] model defaults to tiny.en)
    if synth.missing_tools():
        pytest.skip("espeak-ng and sox synthesise the audio (.ci/run installs them)")
    folder = tmp_path_factory.mktemp("speech")
    return {
        "customer": mulaw_of(synth.say(CUSTOMER, folder / "customer.wav")),
        "human": mulaw_of(synth.say(HUMAN, folder / "human.wav")),
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, speech: dict[str, bytes]) -> Iterator[ServerProcess]:
    proc = start_server(tmp_path_factory.mktemp("media") / "acme")
    try:
        yield proc
    finally:
        proc.stop()


def frames_file(folder: Path, stream: Stream) -> Path:
    return folder / ".shadowpilot" / "acme.shadow" / "media" / f"{stream.stream_sid}.frames"


def media_health(server: ServerProcess) -> dict[str, Any]:
    with shadow_client(server.base) as http:
        return http.get("/healthz").json()["media"]


def scored(folder: Path, call_sid: str) -> dict[str, Any]:
    return wait_until(lambda: (c := call_of(folder, call_sid)) and c["state"] == "scored" and c, timeout=90)


def said_by(call: dict[str, Any], speaker: str) -> str:
    return " ".join(u["text"] for u in call["utterances"] if u["speaker"] == speaker).lower()


def shuffled(frames: list[Frame], seed: int) -> list[Frame]:
    """Twilio's frames as a bad network delivers them: neighbours swapped, some sent twice."""
    rng = random.Random(seed)
    out = list(frames)
    for i in range(0, len(out) - 3, 7):
        out[i], out[i + 2] = out[i + 2], out[i]  # out of order, within the 200 ms a track waits
    for i in rng.sample(range(len(out)), len(out) // 20):
        out.insert(i + 1, out[i])  # a duplicate right behind its original
    return out


def test_unsigned_and_forged_streams_are_refused_before_the_handshake(server: ServerProcess) -> None:
    async def attempt(headers: dict[str, str] | None, signed: str | None) -> int:
        try:
            async with open_stream(server.base, signed=signed, headers=headers):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(attempt(None, "")) == 403  # no signature
    assert asyncio.run(attempt(None, signature(url="wss://elsewhere.example.test/twilio/media"))) == 403
    assert asyncio.run(attempt(None, signature(token="not-the-token"))) == 403
    wait_until(lambda: sum("403 WebSocket /twilio/media" in line for line in server.stderr) >= 3, timeout=10)
    assert media_health(server)["refused"] >= 3


def test_a_call_heard_out_of_order_with_duplicates_and_a_reconnect_reaches_the_agent(
    server: ServerProcess, speech: dict[str, bytes]
) -> None:
    stream = Stream(7001)
    frames = conversation([("inbound", speech["customer"]), ("outbound", speech["human"])])
    sent = shuffled(frames, seed=1)
    cut = len(sent) * 2 // 5

    async def call() -> None:
        async with open_stream(server.base) as ws:
            await ws.send(stream.connected())
            await ws.send(stream.start())
            await send_frames(ws, stream, sent[:cut])
        # the connection dropped without a stop; Twilio's side comes back with the same stream and
        # sends the last 100 frames again before going on
        await asyncio.sleep(0.5)
        async with open_stream(server.base) as ws:
            await ws.send(stream.connected())
            await ws.send(stream.start())
            await send_frames(ws, stream, sent[cut - 100 :])
            await ws.send(stream.stop())

    asyncio.run(call())
    c = scored(server.folder, stream.call_sid)
    customer, human = said_by(c, "customer"), said_by(c, "agent")
    assert "real person" in customer and "charged" in customer, c["utterances"]
    assert "moment" in human or "transfer" in human, c["utterances"]
    assert c["utterances"][0]["speaker"] == "customer"  # in the order spoken: the customer first
    # the baseline agent heard "real person" and would have escalated on the customer's turn
    assert c["agent"]["escalated_at_customer_turn"] == 1, c["agent"]
    # every frame is on disk exactly once, whatever was resent
    stored = list(stored_frames(frames_file(server.folder, stream)))
    assert sorted((f.track, f.timestamp_ms) for f in stored) == sorted((f.track, f.timestamp_ms) for f in frames)
    assert {(f.track, f.timestamp_ms): f.payload for f in stored} == {
        (f.track, f.timestamp_ms): f.payload for f in frames
    }
    health = media_health(server)
    assert health["duplicates"] >= 100 and health["frames_not_durable"] == 0

    # one interpreter: the same words sent as Twilio's transcription webhooks make the same call
    rtt = Call(7005)
    events = [rtt.started()]
    events += [rtt.said("customer" if u["speaker"] == "customer" else "agent", u["text"]) for u in c["utterances"]]
    events.append(rtt.stopped())
    with shadow_client(server.base) as http:
        for route, params in events:
            assert http.post(route, **signed_form(params, route)).status_code == 204
    twin = scored(server.folder, rtt.call_sid)
    assert twin["utterances"] == c["utterances"]
    assert twin["agent"] == c["agent"] and twin["human"] == c["human"]


def test_a_stream_that_never_reconnects_ends_its_call(server: ServerProcess, speech: dict[str, bytes]) -> None:
    stream = Stream(7002)
    frames = conversation([("inbound", speech["customer"])])

    async def call() -> None:
        async with open_stream(server.base) as ws:
            await ws.send(stream.start())
            await send_frames(ws, stream, frames)
        # gone without a stop: after [shadow] media_idle_timeout_s (3 s here) the stream ends

    asyncio.run(call())
    c = scored(server.folder, stream.call_sid)
    assert "real person" in said_by(c, "customer")


def test_messages_that_are_not_twilios_close_the_stream(server: ServerProcess, speech: dict[str, bytes]) -> None:
    async def closed_by(messages: list[str | bytes]) -> int | None:
        async with open_stream(server.base) as ws:
            try:
                for m in messages:
                    await ws.send(m)
                await asyncio.wait_for(ws.recv(), timeout=10)
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None
        return None

    stream = Stream(7003)
    frame = Frame("inbound", 1, 0, b"\xff" * 160)
    assert asyncio.run(closed_by([stream.start(), "x" * 20_000])) == 1009  # over media_max_message_bytes
    assert asyncio.run(closed_by([stream.media(frame)])) == 1008  # media before start
    assert asyncio.run(closed_by([json.dumps({"event": "media", "streamSid": "MZ1"})])) == 1008
    assert asyncio.run(closed_by([Stream(7006).start()])) == 1008  # then silent past media_idle_timeout_s (3 s)
    flood = [Frame("inbound", i, i * 20, b"\xff" * 160) for i in range(1, 4000)]
    assert asyncio.run(closed_by([Stream(7004).start(), *(Stream(7004).media(f) for f in flood)])) == 1008
    wait_until(lambda: any("media_max_frames_per_s" in line for line in server.stderr), timeout=10)


def test_frames_flushed_before_a_sigkill_survive_and_a_reconnect_adds_no_duplicate(
    tmp_path: Path, speech: dict[str, bytes]
) -> None:
    folder = tmp_path / "acme"
    stream = Stream(7101)
    frames = conversation([("inbound", speech["customer"])])
    half = len(frames) // 2
    first = start_server(folder)
    try:

        async def part() -> None:
            async with open_stream(first.base) as ws:
                await ws.send(stream.start())
                await send_frames(ws, stream, frames[:half])
                # every frame sent is durable once the server says so (at most media_fsync_ms later)
                await asyncio.to_thread(wait_until, lambda: media_health(first)["frames_durable"] == half, 20)
                first.kill()  # SIGKILL while the stream is open: no shutdown code runs

        with contextlib.suppress(ConnectionClosed, OSError):  # the server is gone under the client
            asyncio.run(part())
    finally:
        first.kill()
    path = frames_file(folder, stream)
    on_disk = list(stored_frames(path))
    # in the order they came, each once, byte for byte
    assert [(f.track, f.timestamp_ms, f.payload) for f in on_disk] == [
        (f.track, f.timestamp_ms, f.payload) for f in frames[:half]
    ]

    second = start_server(folder)
    try:

        async def rest() -> None:
            async with open_stream(second.base) as ws:
                await ws.send(stream.start())
                await send_frames(ws, stream, frames)  # from the beginning: the first half again
                await ws.send(stream.stop())

        asyncio.run(rest())
        c = scored(folder, stream.call_sid)
        assert "real person" in said_by(c, "customer"), c["utterances"]
        assert media_health(second)["rebuilt"] == 1
    finally:
        second.stop()
    keys = [(f.track, f.timestamp_ms) for f in stored_frames(path)]
    assert len(keys) == len(set(keys)) == len(frames)


def test_without_an_asr_engine_streams_are_refused_saying_why(tmp_path: Path) -> None:
    proc = start_server(tmp_path / "acme", asr='kind = "none"')
    try:

        async def attempt() -> int:
            try:
                async with open_stream(proc.base):
                    return 101
            except InvalidStatus as exc:
                return exc.response.status_code

        assert asyncio.run(attempt()) == 403
        wait_until(lambda: any("[asr] kind" in line for line in proc.stderr), timeout=10)
    finally:
        proc.stop()
