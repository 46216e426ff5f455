"""`shadowpilot shadow serve|calls|twiml|selftest`: the live shadow server, what it has seen, the TwiML
to feed it, and an end-to-end check of a deployment."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from ..errors import ConfigError, UsageError
from ..urls import http_url, safe_url
from ..wording import customer_turn_label, plural
from .common import JSON_OPTION, console, emit_json, guarded, settings

if TYPE_CHECKING:
    from ..config import Settings

app = typer.Typer(
    name="shadow",
    help="Live shadow calls: the server Twilio calls back, the calls it has seen, the TwiML snippet, a selftest.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

TRANSCRIPTIONS_ROUTE = "/twilio/transcriptions"


def _flags(**values: Any) -> dict[str, dict[str, Any]]:
    return {"shadow": {k: v for k, v in values.items() if v is not None}}


def _public_url(url: str | None) -> str:
    if not url:
        raise ConfigError(
            "field shadow.public_url is not set: give the public https URL Twilio calls "
            "(e.g. your ngrok or load-balancer address) in shadowpilot.toml [shadow] or with --public-url"
        )
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"field shadow.public_url: expected an http(s) URL, got {url!r}")
    return url.rstrip("/")


@app.command("serve")
@guarded
def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="Override [shadow] host."),
    port: int | None = typer.Option(None, "--port", min=0, max=65535, help="Override [shadow] port (0: any free)."),
    public_url: str | None = typer.Option(None, "--public-url", help="Override [shadow] public_url."),
) -> None:
    """Run the live shadow server (until Ctrl-C). Needs TWILIO_AUTH_TOKEN and [shadow] public_url.

    Every event is fsync'd to .shadowpilot/<tenant>.shadow/events.jsonl before it is
    acknowledged; a restart resumes the calls not yet scored.
    """
    import logging

    s = settings(ctx, _flags(host=host, port=port, public_url=public_url))
    token = os.environ.get("TWILIO_AUTH_TOKEN")
    if not token:
        raise UsageError("TWILIO_AUTH_TOKEN is not set: the server needs it to check Twilio's request signatures")
    url = _public_url(s.shadow.public_url)

    import uvicorn

    from ..runners import build_agent
    from ..runners.shadow.app import create_app
    from ..runners.shadow.reading import shadow_dir
    from ..runners.shadow.service import ShadowService
    from ..runners.shadow.slow_clients import head_deadline_protocol

    agent = build_agent(s)
    agent.warm_up()  # before it listens: the first live turn's time is the agent's, not its imports
    engine, no_media = _media_engine(s)
    lock = _single_instance(shadow_dir(s))
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    service = ShadowService(s, agent)
    media = None
    if engine is not None:
        from ..runners.shadow.media import MediaStreams

        media = MediaStreams(service, engine, shadow_dir(s) / "media")
    config = uvicorn.Config(
        create_app(service, auth_token=token, public_url=url, media=media, no_media=no_media or "-"),
        ws_max_size=s.shadow.media_max_message_bytes,
        ws_per_message_deflate=False,  # base64 audio hardly compresses: deflate would be CPU for nothing
        # a Media Stream stays open for the whole call: without a bound, Ctrl-C / SIGTERM would wait for
        # every live call to hang up. Its frames are durable as they come; a stream closed here ends
        # after [shadow] media_idle_timeout_s unless Twilio reconnects.
        timeout_graceful_shutdown=10,
        host=s.shadow.host,
        port=s.shadow.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        http=head_deadline_protocol(s.shadow.read_timeout_s),
    )

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            for srv in getattr(self, "servers", []):
                for sock in srv.sockets:
                    bound_host, bound_port = sock.getsockname()[:2]
                    where = http_url(bound_host, bound_port)
                    typer.echo(f"shadow server listening on {where} (Twilio signs {safe_url(url)})")
            sys.stdout.flush()

    try:
        Server(config).run()
    finally:
        lock.close()


def _media_engine(s: Settings) -> tuple[Any, str]:
    """The `[asr]` engine live audio is heard with (the local model loaded now, before the first call),
    or None and why not (`kind = "none"`, no detector installed): /twilio/media then refuses every
    stream with that reason in its log line."""
    import importlib.util

    from ..asr import engine_from_settings

    engine = engine_from_settings(s)
    if engine is not None and importlib.util.find_spec("faster_whisper") is None:
        return None, (
            "live audio is cut into utterances by faster-whisper's voice-activity detector, which is not"
            " installed: pip install 'shadowpilot[voice]'"
        )
    if engine is None:
        return None, 'live audio needs an ASR engine: set [asr] kind to "local" or "openai"'
    engine.warm_up()
    return engine, ""


def _single_instance(folder: Any) -> Any:
    """One server per tenant: a second would interleave the same event log."""
    import fcntl
    import os

    from ..private import open_private, private_dir

    private_dir(folder.parent)  # .shadowpilot/ and <tenant>.shadow/ are this account's alone
    private_dir(folder)
    fh = os.fdopen(open_private(folder / "serve.lock", os.O_RDWR | os.O_CREAT | os.O_APPEND), "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise UsageError(
            f"another shadow server is already running for this tenant (lock {folder / 'serve.lock'})"
        ) from None
    return fh


@app.command("calls", short_help="List the shadow calls seen, from the event log.")
@guarded
def calls(
    ctx: typer.Context,
    state: str | None = typer.Option(None, "--state", help="Only calls in this state: live, ended or scored."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List the shadow calls seen, read from the event log (never waits for the server or the store).

    Log lines that are not usable records are skipped and named on stderr (and in `--json`
    under `skipped`), never a reason to fail."""
    import gc

    if state is not None and state not in ("live", "ended", "scored"):
        raise UsageError(f"--state: expected live, ended or scored, got {state!r}")
    s = settings(ctx)
    # Python's cycle collector off while the pilot is read and listed: the 20,000 views of a
    # pilot are millions of containers, which each collection walks again (a third of the read
    # and list time at 20,000 calls); they hold no cycle. On again as it was, after.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _list_calls(s, state, as_json)
    finally:
        if collecting:
            gc.enable()


def _list_calls(s: Settings, state: str | None, as_json: bool) -> None:
    from ..runners.shadow.reading import read_book

    book = read_book(s)
    listing = book.listing()
    if book.skipped:  # said on stderr, so the table or the JSON on stdout stays what it was
        from ..runners.shadow.calls import skipped_summary
        from ..runners.shadow.reading import log_path

        typer.echo(skipped_summary(book.skipped, log_path(s)), err=True)
        listing["skipped"] = [{"line": x.line, "why": x.why} for x in book.skipped]
    if state is not None:
        listing["calls"] = [c for c in listing["calls"] if c["state"] == state]
    if as_json:
        _emit_listing(listing["calls"], {k: v for k, v in listing.items() if k != "calls"}, raw=book.raw_view)
        return
    if not listing["calls"]:
        console().print("no shadow calls yet: start `shadowpilot shadow serve` and point Twilio at it")
        return
    from rich import box

    from .safe import safe_text
    from .tables import Column, fitted_table, print_whole

    columns = [
        Column("call", id=True),
        Column("state", no_wrap=True),
        Column("started (UTC)", drop=3, no_wrap=True),
        Column("utterances", drop=4, justify="right"),
        Column("agent", drop=1),  # dropped last: what the AI did, beside what the human did
        Column("human"),
        Column("run", drop=2, id=True),  # `history` and --json name it too
    ]
    rows = []
    for c in listing["calls"]:
        agent = c["agent"]
        at = agent.get("escalated_at_customer_turn")
        said = f"escalate at {customer_turn_label(at)}" if agent["escalated_at_turn"] is not None else "-"
        if agent["errors"]:
            said += f" · {plural(agent['errors'], 'error')}"
        human = c["human"]
        did = f"escalated to {human.get('queue') or '?'}" if human["escalated"] else "kept"
        if not human["routing_known"]:
            did += " (routing not known yet)"
        cells = (c["call_id"], c["state"], c["started_at"][:19], str(len(c["utterances"])), said, did)
        rows.append(tuple(safe_text(v, one_line=True) for v in (*cells, c["run_id"] or "-")))
    con = console()
    title = safe_text(f"Shadow calls · {s.tenant.name}", one_line=True)
    print_whole(con, fitted_table(con, columns, rows, title=title, title_justify="left", box=box.SIMPLE_HEAD))


def _emit_listing(
    calls: list[dict[str, Any]],
    rest: dict[str, Any] | None = None,
    *,
    raw: Callable[[dict[str, Any]], bytes | None] | None = None,
) -> None:
    """`{"calls": [...], **rest}` with one call per line, compact: the same document as emit_json,
    but each call encoded by json's C encoder (indent= makes json fall back to pure Python, 10x
    slower over a pilot's 20,000 calls), or, when `raw` gives a done call's view as calls.jsonl
    holds it (CallBook.raw_view: those same bytes), printed as it is, not encoded again.
    `rest` (the few `skipped` lines) is indented as emit_json does."""
    import json

    from .common import json_default

    # json.dumps(call, separators=...), its encoder made once: compact, as calls.jsonl's views are
    encode = json.JSONEncoder(default=json_default, separators=(",", ":")).encode
    parts: list[bytes] = [b'{\n  "calls": [' if calls else b'{\n  "calls": []']
    for n, call in enumerate(calls):
        parts.append(b"\n    " if n == 0 else b",\n    ")
        held = raw(call) if raw is not None else None
        parts.append(held if held is not None else encode(call).encode())
    if calls:
        parts.append(b"\n  ]")
    for key, value in (rest or {}).items():
        body = json.dumps(value, indent=2, default=json_default).replace("\n", "\n  ")
        parts.append(f",\n  {json.dumps(key)}: {body}".encode())
    parts.append(b"\n}\n")
    sys.stdout.flush()
    sys.stdout.buffer.write(b"".join(parts))
    sys.stdout.buffer.flush()


@app.command("twiml", short_help="Print the TwiML snippet and the webhook URLs.")
@guarded
def twiml(
    ctx: typer.Context,
    track: str = typer.Option("both_tracks", "--track", help="inbound_track, outbound_track or both_tracks."),
    public_url: str | None = typer.Option(None, "--public-url", help="Override [shadow] public_url."),
    audio: bool = typer.Option(
        False, "--audio", help="Stream the call's audio (<Start><Stream>) to /twilio/media instead; needs [asr]."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Print the <Start><Transcription> snippet to add to the call flow, before <Dial> or <Enqueue>.

    With --audio, a <Start><Stream> of both tracks to the server's /twilio/media instead, where the
    call's audio is heard by the [asr] engine (not with [asr] kind = "none"); never both, or every
    utterance would reach the call twice."""
    from twilio.twiml.voice_response import VoiceResponse

    if track not in ("inbound_track", "outbound_track", "both_tracks"):
        raise UsageError(f"--track: expected inbound_track, outbound_track or both_tracks, got {track!r}")
    s = settings(ctx, _flags(public_url=public_url))
    url = _public_url(s.shadow.public_url)
    callback = url + TRANSCRIPTIONS_ROUTE
    response = VoiceResponse()
    stream = None
    if audio:
        # the audio replaces Twilio's transcription: with both, every utterance would reach the call twice
        from ..runners.shadow.media_route import MEDIA_ROUTE, stream_url

        if s.asr.kind == "none":
            raise ConfigError(
                "field asr.kind: --audio streams the call to the server, which hears it with the [asr] engine;"
                ' set [asr] kind to "local" or "openai"',
                s.source,
            )
        stream = stream_url(url) + MEDIA_ROUTE
        response.start().stream(name="shadowpilot-audio", url=stream, track="both_tracks")
    else:
        response.start().transcription(
            name="shadowpilot",
            status_callback_url=callback,
            track=track,
            partial_results=False,  # final utterances only: the agent is asked once per utterance
            inbound_track_label=s.shadow.inbound_track,
            outbound_track_label=s.shadow.outbound_track,
        )
    xml = str(response)
    hooks = {
        "transcriptions": callback,
        "conversations": url + "/twilio/conversations",
        "taskrouter": url + "/twilio/taskrouter",
    }
    if as_json:
        emit_json({"twiml": xml, "webhooks": hooks, **({"media_stream": stream} if stream else {})})
        return
    typer.echo(xml)
    err = console(stderr=True)
    err.print("Put the <Start> element before <Dial>/<Enqueue> in the call flow. Also point:")
    err.print(
        "  Conversations post-event webhook (onMessageAdded, onConversationStateUpdated)\n"
        f"    -> {hooks['conversations']}"
    )
    err.print(f"  the TaskRouter workspace's Event Callback URL -> {hooks['taskrouter']}")


@app.command("selftest", short_help="Send a running server one signed synthetic call.")
@guarded
def selftest(
    ctx: typer.Context,
    url: str | None = typer.Option(
        None,
        "--url",
        help="Post to this base URL instead of public_url (e.g. http://127.0.0.1:8787); still signed for public_url.",
    ),
    public_url: str | None = typer.Option(None, "--public-url", help="Override [shadow] public_url."),
    timeout: float = typer.Option(60.0, "--timeout", min=1, help="Seconds to wait for the call to be scored."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Send a running `shadow serve` one synthetic call, signed as Twilio signs it, and wait until it is scored.

    Checks the tunnel, public_url, TWILIO_AUTH_TOKEN, the agent and the store in one go. The
    call gets a fresh CallSid, is tagged `selftest` and is stored in run selftest-YYYYMMDD,
    never in the day's shadow run. Exit 2 with the reason when the deployment does not take it.
    """
    s = settings(ctx, _flags(public_url=public_url))
    token = os.environ.get("TWILIO_AUTH_TOKEN")
    if not token:
        raise UsageError("TWILIO_AUTH_TOKEN is not set: selftest signs its requests with it, as Twilio does")
    signed_for = _public_url(s.shadow.public_url)
    if url is not None and not url.startswith(("https://", "http://")):
        raise UsageError(f"--url: expected an http(s) URL, got {url!r}")
    base = url.rstrip("/") if url else signed_for

    from ..runners.shadow.selftest import Selftest

    call_key = s.shadow.task_call_keys[0] if s.shadow.task_call_keys else "call_sid"
    if not as_json:
        err = console(stderr=True)
        posting = f"selftest: posting a synthetic call to {safe_url(base)} (signed for {safe_url(signed_for)})"
        err.print(posting, soft_wrap=True)
    scored, sent = Selftest(public_url=signed_for, token=token, base=base).run(call_key, timeout)
    if as_json:
        shown = {"posted_to": safe_url(base), "signed_for": safe_url(signed_for)}
        emit_json({**shown, "events": sent, "call": scored.view})
        return
    human = f"escalated to {scored.human_queue or '?'}" if scored.human_escalated else "kept the call"
    if scored.human_escalated:
        known = scored.human_at_turn is not None
        human += f" at {customer_turn_label(scored.human_at_turn)}" if known else " (turn not known)"
    agent = (
        f"escalate at {customer_turn_label(scored.agent_escalated_at_turn)}"
        if scored.agent_escalated_at_turn is not None
        else "no escalation"
    )
    agent += f"; {plural(scored.agent_answered, 'turn')} answered, {plural(scored.agent_errors, 'error')}"
    typer.echo(f"selftest call {scored.call_id}: {sent} signed events accepted by {safe_url(base)}")
    typer.echo(f"  scored in run {scored.run_id} (tagged selftest; not part of the day's shadow run)")
    typer.echo(f"  human: {human}")
    typer.echo(f"  agent: {agent}")
