"""Strangers' requests stay cheap: `shadow serve` under uvicorn, met by clients that lie about their
size, never finish, send 110,000 parameters or hang up mid-body, while Twilio's signed webhooks
still get their 204. Raw sockets where the point is what the server does before a body arrives."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator

import httpx
import pytest

from shadowpilot.config import ShadowSettings
from shadowpilot.runners.shadow.limits import Limits, form_params
from shadowpilot.runners.shadow.refusals import RefusalLog
from tests.runners.shadow.conftest import CONFIG, call_of, make_tenant, wait_until
from tests.runners.shadow.twilio_sim import CONV, RTT, TASKS, Call, ServerProcess, signed_form, signed_json

# The transcriptions route takes up to 2 MB here, so a 1 MB body of 110,000 parameters meets the
# parameter cap, not the size cap; the other routes keep their defaults.
LIMITS = """read_timeout_s = 1.0
max_body_bytes = { transcriptions = 2000000 }
"""
SOCKET_TIMEOUT = 30.0  # "closed eventually": far past read_timeout_s, well inside the test's time


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = make_tenant(tmp_path_factory.mktemp("limits") / "acme")
    (folder / "shadowpilot.toml").write_text(CONFIG + LIMITS, encoding="utf-8")
    srv = ServerProcess(folder).start()
    yield srv
    srv.stop()


def connect(server: ServerProcess) -> socket.socket:
    host, port = server.base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a timeout fails the test)."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def head(route: str, **headers: str) -> bytes:
    lines = [f"POST {route} HTTP/1.1", "Host: shadow.example.test", "X-Twilio-Signature: bm90LWEtc2lnbmF0dXJl"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def logged(server: ServerProcess) -> str:
    return "".join(server.stderr)


# -- pure rules --------------------------------------------------------------------------------


def test_parameters_are_counted_in_the_body_and_the_query() -> None:
    assert form_params(b"", "") == 0
    assert form_params(b"a=1", "") == 1
    assert form_params(b"a=1&b=&c", "bodySHA256=x") == 4
    assert form_params(b"&" * 109_999, "") == 110_000


def test_default_limits_fit_twilio_payloads_and_are_per_route() -> None:
    shadow = ShadowSettings()
    assert Limits.of(shadow, "transcriptions") == Limits(65_536, 50, 10.0)
    assert Limits.of(shadow, "conversations").body_bytes == Limits.of(shadow, "taskrouter").body_bytes == 262_144
    assert Limits.of(shadow, "conversations").params == Limits.of(shadow, "taskrouter").params == 100


def test_max_params_is_per_route_and_one_number_still_sets_every_route() -> None:
    per_route = ShadowSettings.model_validate({"max_params": {"taskrouter": 200}})
    assert [Limits.of(per_route, r).params for r in ("transcriptions", "conversations", "taskrouter")] == [50, 100, 200]
    one = ShadowSettings.model_validate({"max_params": 30})
    assert {Limits.of(one, r).params for r in ("transcriptions", "conversations", "taskrouter")} == {30}


def test_a_flood_of_refusals_logs_a_bounded_number_of_lines(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    refusals = RefusalLog(logging.getLogger("test.refusals"), burst=3, window_s=10, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.refusals"):
        for i in range(1000):  # 1000 forged requests in 1 s
            now[0] = i / 1000
            refusals.warning("403 forged %d", i)
        now[0] = 12.0
        refusals.warning("403 forged later")
    assert [r.getMessage() for r in caplog.records] == [
        "403 forged 0",
        "403 forged 1",
        "403 forged 2",
        "997 more refused request(s) in 12 s not logged one by one",
        "403 forged later",
    ]


# -- the server --------------------------------------------------------------------------------


def test_a_body_claiming_a_gigabyte_is_refused_before_it_is_sent(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(head(RTT, Content_Type="application/x-www-form-urlencoded", Content_Length="1000000000"))
        answer = read_all(sock)  # returns only because the server closed the connection
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"over the route's limit of 2000000 bytes" in answer
    wait_until(lambda: "413 POST /twilio/transcriptions" in logged(server))


def test_a_chunked_body_past_the_routes_cap_is_cut_off(server: ServerProcess) -> None:
    chunk = b"x" * 65_536
    with connect(server) as sock:
        sock.sendall(head(TASKS, Content_Type="application/x-www-form-urlencoded", Transfer_Encoding="chunked"))
        for _ in range(5):  # 320 KB of a body that never ends, past taskrouter's 256 KB
            sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        # ... and the server has stopped reading: the connection is closed to whatever comes next
        with pytest.raises(OSError):
            for _ in range(200):
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    wait_until(
        lambda: "413 POST /twilio/taskrouter from 127.0.0.1: body over the route's limit of 262144" in logged(server)
    )


def test_a_client_that_stalls_in_its_head_or_sends_nothing_is_closed(server: ServerProcess) -> None:
    with connect(server) as stalled, connect(server) as silent:
        stalled.sendall(b"POST /twilio/transcriptions HTTP/1.1\r\nHost: shadow.example.test\r\n")
        assert read_all(stalled) == b""  # closed after read_timeout_s, not held open
        assert read_all(silent) == b""
    wait_until(lambda: "request head not received within 1 s" in logged(server))


def test_a_client_that_stalls_in_its_body_gets_408_and_is_closed(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(head(RTT, Content_Type="application/x-www-form-urlencoded", Content_Length="5000"))
        sock.sendall(b"CallSid=CA1&")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    wait_until(lambda: "408 POST /twilio/transcriptions" in logged(server))


DRIP_S = 0.25  # a quarter of read_timeout_s: an idle timer would never fire


def trickle(sock: socket.socket, drip: bytes, drips: int = int(SOCKET_TIMEOUT / DRIP_S)) -> bytes:
    """Send `drip` every DRIP_S until the server answers or closes; what it sent back. Fails if
    the connection is still held after `drips` of them (far past read_timeout_s)."""
    sock.settimeout(DRIP_S)
    for _ in range(drips):
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            try:
                sock.sendall(drip)
            except OSError:  # closed between two drips
                return b""
            continue
        except OSError:
            return b""
        sock.settimeout(SOCKET_TIMEOUT)
        return chunk + read_all(sock) if chunk else b""
    raise AssertionError(f"still held after {drips} drips of {drip!r}")


def test_a_client_that_trickles_its_head_is_closed_at_the_deadline_not_kept_alive_by_each_byte(
    server: ServerProcess,
) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /twilio/transcriptions HTTP/1.1\r\nHost: shadow.example.test\r\n")
        assert trickle(sock, b"X-Pad: 1\r\n") == b""


def test_a_client_that_trickles_its_body_gets_408_at_the_deadline(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(head(RTT, Content_Type="application/x-www-form-urlencoded", Content_Length="5000"))
        answer = trickle(sock, b"a")
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]


def test_110000_parameters_are_refused_before_the_signature_is_checked(
    http: httpx.Client, server: ServerProcess
) -> None:
    body = "&".join(f"p{i}=v" for i in range(110_000)).encode()[:999_999]
    params = body.count(b"&") + 1
    forged = {"X-Twilio-Signature": "bm90LWEtc2lnbmF0dXJl", "Content-Type": "application/x-www-form-urlencoded"}
    answer = http.post(RTT, content=body, headers=forged)
    assert answer.status_code == 413
    assert f"{params} parameters, over the limit of 50" in answer.text  # the transcriptions route's cap
    # the cap holds for signed requests too (Twilio sends a few dozen), form or JSON
    many = {f"p{i}": "v" for i in range(101)}
    assert http.post(CONV, **signed_form(many, CONV)).status_code == 413
    path, kwargs = signed_json(many, CONV)
    assert http.post(path, **kwargs).status_code == 413
    wait_until(lambda: "413 POST /twilio/conversations" in logged(server))


def test_a_client_gone_mid_body_logs_one_warning_line_and_no_traceback(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(head(RTT, Content_Type="application/x-www-form-urlencoded", Content_Length="5000"))
        sock.sendall(b"CallSid=CA1&TranscriptionEvent=")
    line = "POST /twilio/transcriptions from 127.0.0.1: the client went away before its body was read"
    wait_until(lambda: line in logged(server))
    assert logged(server).count(line) == 1
    assert "Traceback" not in logged(server)


def test_an_unsigned_request_is_refused_before_its_body_is_read(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /twilio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 403 ")


def test_genuine_signed_webhooks_still_get_their_204(http: httpx.Client, server: ServerProcess) -> None:
    call = Call(7001)
    events = [call.started(), call.said("customer", "hello there"), call.said("agent", "hi"), call.stopped()]
    for route, params in events:
        assert http.post(route, **signed_form(params, route)).status_code == 204
    path, kwargs = signed_json(call.task_event("task.created", "front-desk")[1], TASKS)
    assert http.post(path, **kwargs).status_code == 204
    seen = wait_until(lambda: call_of(server.folder, call.call_sid))
    assert [u["text"] for u in seen["utterances"]] == ["hello there", "hi"]
    # still up and answering, asked on a new connection: the pooled one has sat idle through the
    # wait above and the server closes idle connections (read_timeout_s), which a reused one can race
    assert json.loads(httpx.get(f"{server.base}/healthz", timeout=10).text)
    assert "Traceback" not in logged(server)
