"""Live audio load on the shadow server: N concurrent Twilio Media Streams on loopback, beside webhooks.

Starts `shadowpilot shadow serve` (real uvicorn, a subprocess) in a fresh tenant folder, then:

1. webhooks alone: `--rate` signed Real-Time Transcription webhooks a second for `--seconds`, each
   one's ack time taken (POST sent -> 204 read);
2. the same webhooks while `--streams` Media Streams play at once, in real time (both tracks,
   20 ms frames: 100 frames a second a stream), espeak-ng speech of a customer and a human.

Then reads back every stream's frame file and prints frames lost (sent but not on disk: must be
0), the webhook ack p50/p99 with and without the streams and their ratio (target: within 2x), and
the server's CPU per stream (its CPU seconds in phase 2 less phase 1, per second per stream).

By default the ASR is an OpenAI-compatible server on 127.0.0.1 that answers a fixed text
(tests/servers/transcription_server.py), so the figures are the media path's own (WebSocket,
durability, voice-activity detection); `--asr local` hears with tiny.en on this machine instead
(its cost grows with the speech, not with the streams). The stream clients run in their own
process, so their pacing does not delay the webhook timings.

    python bench/media_streams.py [--streams 50] [--seconds 20] [--rate 50] [--asr openai|local]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.runners.shadow.media_sim import Stream, conversation, mulaw_of, open_stream, send_frames  # noqa: E402
from tests.runners.shadow.twilio_sim import PUBLIC_URL, Call, ServerProcess, signed_form  # noqa: E402

CUSTOMER = "I was charged twice. Let me talk to a real person please."
HUMAN = "Of course. One moment please, I am transferring you now."


def config(asr: str, fsync_ms: float) -> str:
    return f"""[tenant]
name = "media"

[agent]
kind = "baseline"

[shadow]
public_url = "{PUBLIC_URL}"
reorder_window_s = 0.5
outcome_wait_s = 2
agent_concurrency = 16
media_fsync_ms = {fsync_ms:g}

[asr]
{asr}
"""


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] if s else float("nan")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def webhooks(base: str, rate: float, seconds: float, first_call: int) -> list[float]:
    """`rate` signed transcription webhooks a second for `seconds`, spread over calls of 10 utterances."""
    acks: list[float] = []
    total = int(rate * seconds)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(keepalive_expiry=1.0)) as http:
        t0 = time.monotonic()
        calls: dict[int, Call] = {}
        pending = []

        async def post(route: str, params: dict[str, str]) -> None:
            started = time.perf_counter()
            r = await http.post(route, **signed_form(params, route))
            acks.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 204, r.status_code

        for i in range(total):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            n = first_call + i // 12
            c = calls.setdefault(n, Call(n))
            k = i % 12
            route, params = c.started() if k == 0 else c.stopped() if k == 11 else c.said("customer", f"line {k}")
            pending.append(asyncio.create_task(post(route, params)))
        await asyncio.gather(*pending)
    return acks


def play_streams(base: str, streams: int, seconds: float, speech: dict[str, bytes], out: Any) -> None:
    """In a process of its own: `streams` Media Streams at once, in real time; puts {stream: frames sent}."""

    async def one(n: int) -> tuple[str, int]:
        stream = Stream(90_000 + n)
        turns = [("inbound", speech["customer"]), ("outbound", speech["human"])]
        reps = int(seconds // 4) + 2  # a turn and its gap are about 4 s: enough of them to fill `seconds`
        frames = [f for f in conversation(turns * reps) if f.timestamp_ms < seconds * 1000]
        await asyncio.sleep(n * 0.02)  # streams begin spread over a second, as calls do
        async with open_stream(base) as ws:
            await ws.send(stream.connected())
            await ws.send(stream.start())
            sent = await send_frames(ws, stream, frames, pace=True)
            await ws.send(stream.stop())
        return stream.stream_sid, sent

    async def run() -> dict[str, int]:
        return dict(await asyncio.gather(*(one(n) for n in range(streams))))

    sent = asyncio.run(run())
    out.put((sent, time.process_time()))  # and what playing Twilio's side cost this process


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=50.0, help="webhooks a second, in both phases")
    ap.add_argument("--asr", choices=["openai", "local"], default="openai")
    ap.add_argument("--fsync-ms", type=float, default=100.0, help="[shadow] media_fsync_ms")
    args = ap.parse_args()

    from tests.servers.transcription_server import TranscriptionServer

    from shadowpilot.asr import synth
    from shadowpilot.runners.shadow.media_log import stored_frames

    if synth.missing_tools():
        sys.exit("espeak-ng and sox are needed (apt-get install espeak-ng sox)")
    with tempfile.TemporaryDirectory(prefix="media-bench-") as tmp, TranscriptionServer(text=CUSTOMER) as asr_server:
        folder = Path(tmp) / "media"
        folder.mkdir()
        speech = {
            "customer": mulaw_of(synth.say(CUSTOMER, folder / "customer.wav")),
            "human": mulaw_of(synth.say(HUMAN, folder / "human.wav")),
        }
        asr = (
            f'kind = "openai"\nbase_url = "{asr_server.base_url}"\nmodel = "whisper-1"\nmax_retries = 0'
            if args.asr == "openai"
            else 'kind = "local"\nlanguage = "en"'
        )
        (folder / "shadowpilot.toml").write_text(config(asr, args.fsync_ms), encoding="utf-8")
        env = {"PYTHONPATH": os.pathsep.join([str(folder), *filter(None, [os.environ.get("PYTHONPATH")])])}
        env["OPENAI_API_KEY"] = "bench-not-a-key"
        server = ServerProcess(folder, env=env).start()
        try:
            assert server.proc is not None
            pid = server.proc.pid
            c0 = cpu_s(pid)
            t0 = time.monotonic()
            alone = asyncio.run(webhooks(server.base, args.rate, args.seconds, first_call=1))
            cpu_alone = (cpu_s(pid) - c0) / (time.monotonic() - t0)

            out: Any = multiprocessing.get_context("spawn").Queue()
            player = multiprocessing.get_context("spawn").Process(
                target=play_streams, args=(server.base, args.streams, args.seconds, speech, out)
            )
            c1 = cpu_s(pid)
            t1 = time.monotonic()
            player.start()
            time.sleep(1.5)  # every stream connected and started before the timing begins
            client0 = time.process_time()
            beside = asyncio.run(webhooks(server.base, args.rate, args.seconds - 3, first_call=10_000))
            client_cpu = time.process_time() - client0
            sent, player_cpu = out.get(timeout=args.seconds * 4 + 120)
            player.join(timeout=60)
            cpu_streams = (cpu_s(pid) - c1) / (time.monotonic() - t1)
            time.sleep(2)  # the last frames' fsync
            media_dir = folder / ".shadowpilot" / "media.shadow" / "media"
            lost = dups = 0
            for stream_sid, n in sent.items():
                keys = [(f.track, f.timestamp_ms) for f in stored_frames(media_dir / f"{stream_sid}.frames")]
                lost += n - len(set(keys))
                dups += len(keys) - len(set(keys))
            with httpx.Client(base_url=server.base, timeout=10) as http:
                media = http.get("/healthz").json()["media"]
        finally:
            server.stop()
    p99_alone, p99_beside = pct(alone, 99), pct(beside, 99)
    per_stream = (cpu_streams - cpu_alone) / args.streams
    print(
        f"media streams bench: {args.streams} streams x {args.seconds:g} s, both tracks, 20 ms frames, asr={args.asr}"
    )
    print(f"  frames sent {sum(sent.values())}, lost {lost} (target 0), stored twice {dups}")
    print(
        f"  stream health: frames_durable {media['frames_durable']}, fsyncs {media['fsyncs']},"
        f" fsync p50 {media['fsync_ms_p50']} ms, utterances {media['utterances']},"
        f" duplicates {media['duplicates']}, late {media['late']}"
    )
    print(f"  webhook ack p50 alone {pct(alone, 50):.2f} ms, with streams {pct(beside, 50):.2f} ms")
    print(
        f"  webhook ack p99 alone {p99_alone:.2f} ms, with streams {p99_beside:.2f} ms:"
        f" ratio {p99_beside / p99_alone:.2f}x (target within 2x)"
    )
    print(
        f"  load generators: the stream player used {player_cpu:.1f} CPU s, the webhook client"
        f" {client_cpu:.1f} CPU s (on the same cores as the server)"
    )
    print(
        f"  server CPU: {cpu_alone * 100:.1f}% of a core for the webhooks alone,"
        f" {cpu_streams * 100:.1f}% with the streams: {per_stream * 100:.2f}% of a core per stream"
    )


if __name__ == "__main__":
    main()
