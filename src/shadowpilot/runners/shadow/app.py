"""The ASGI app: Twilio's webhooks in, signature checked, handed to the ShadowService, 204 out.

Routes (DESIGN.md): POST /twilio/transcriptions, /twilio/conversations,
/twilio/taskrouter (GET too, for statusCallbackMethod=GET), the WebSocket /twilio/media (Twilio
Media Streams: media_route.py), an unsigned
GET /healthz, and GET /selftest/<CallSid>, signed like a webhook, which shows
`shadow selftest` how its synthetic call went (only selftest calls: a real
call's words are never served). A request that fails the signature check gets
403 and a log line that names the route, the client and why, never the body.

Until the signature is checked a request is a stranger's, so it is kept cheap (limits.py): no
signature header is refused before the body is read; an oversized body (413) on its
Content-Length or as it streams; a slow one (408) at `read_timeout_s`; too many parameters (413)
before any parsing or HMAC. Every refusal closes the connection, and its log line counts against
a budget (refusals.py). With those caps the signature check of the largest body a route takes
costs one to two milliseconds (0.9 ms for 64 KB, 2.2 ms for 256 KB of 100 parameters, measured),
and it runs in two threads of its own, off the event loop: a flood of forged bodies inside the
caps queues there while the loop goes on acknowledging (bench/shadow_load.py --forged 32
--forged-bytes 60000, idle 2-core machine: genuine ack p99 107-111 ms in its threads against
114-147 ms on the loop with 100 parameters a forgery; 103-110 ms with 40, under the transcriptions
route's cap of 50).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from twilio.request_validator import SIGNATURE_HEADER, RequestValidator

from ...errors import StoreError
from .limits import Limits, Refused, check_params, form_params, read_body
from .media import MediaStreams
from .media_route import MEDIA_ROUTE, media_endpoint
from .refusals import RefusalLog
from .selftest import SELFTEST_ROUTE
from .service import ShadowService
from .signature import check, is_json
from .wire import ROUTES, BadPayload

log = logging.getLogger("shadowpilot.shadow")


def create_app(
    service: ShadowService,
    *,
    auth_token: str,
    public_url: str,
    media: MediaStreams | None = None,
    no_media: str = "live audio needs an ASR engine: set [asr] kind to local or openai",
) -> Starlette:
    """The app; `media` takes Media Streams on /twilio/media (None: every stream is refused with
    `no_media` as the log line's reason)."""
    validator = RequestValidator(auth_token)
    limits = {path: Limits.of(service.settings.shadow, route) for path, route in ROUTES.items()}
    refusals = RefusalLog(log)
    # the signature checks' own threads: parsing and HMAC off the event loop, and a flood of forged
    # bodies queues here, not in front of the log's group commits and the store's writes
    checks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="shadow-signature")

    def refuse(request: Request, client: str, status: int, why: str, answer: str) -> Response:
        """One log line, and the connection closed: whatever of the body is still coming is not read."""
        refusals.refused(status, "%d %s %s from %s: %s", status, request.method, request.url.path, client, why)
        return PlainTextResponse(answer, status_code=status, headers={"Connection": "close"})

    async def webhook(request: Request) -> Response:
        path = request.url.path
        client = request.client.host if request.client else "?"
        if not request.headers.get(SIGNATURE_HEADER):
            return refuse(request, client, 403, "no X-Twilio-Signature header", "forbidden")
        route_limits = limits[path]
        try:
            body = await read_body(request, route_limits)
            json_body = is_json(request.headers.get("content-type", ""))
            if not json_body:
                check_params(form_params(body, request.url.query), route_limits)
        except Refused as exc:
            return refuse(request, client, exc.status, exc.why, exc.why)
        except ClientDisconnect:
            refusals.refused(
                400, "%s %s from %s: the client went away before its body was read", request.method, path, client
            )
            return Response(status_code=400)
        try:
            checked = await asyncio.get_running_loop().run_in_executor(
                checks,
                partial(
                    check,
                    validator,
                    public_url=public_url,
                    path=path,
                    query=request.url.query,
                    method=request.method,
                    headers=request.headers,
                    content_type=request.headers.get("content-type", ""),
                    body=body,
                ),
            )
            if not checked.ok:
                refusals.refused(403, "403 %s %s from %s: %s", request.method, path, client, checked.why)
                return PlainTextResponse("forbidden", status_code=403)
            if json_body:
                check_params(len(checked.params), route_limits)
            await service.accept(ROUTES[path], checked.params)
        except Refused as exc:
            return refuse(request, client, exc.status, exc.why, exc.why)
        except BadPayload as exc:  # signed, but not what Twilio sends this route (a malformed Sid...)
            refusals.refused(400, "400 %s %s from %s: %s", request.method, path, client, exc)
            return PlainTextResponse(f"bad request: {exc}", status_code=400)
        except StoreError as exc:
            log.error("503 %s %s: not made durable: %s", request.method, path, exc)
            return PlainTextResponse("event not stored; retry", status_code=503)
        # TaskRouter wants 204 with a JSON content type; the others take any 2xx.
        return Response(status_code=204, media_type="application/json")

    async def healthz(request: Request) -> Response:
        health = {**service.health(), "refused": {str(k): n for k, n in sorted(refusals.counts.items())}}
        if media is not None:
            health["media"] = media.health()
        return JSONResponse(health)

    async def selftest_call(request: Request) -> Response:
        path = request.url.path
        checked = check(
            validator,
            public_url=public_url,
            path=path,
            query=request.url.query,
            method="GET",
            headers=request.headers,
            content_type="",
            body=b"",
        )
        if not checked.ok:
            client = request.client.host if request.client else "?"
            refusals.refused(403, "403 GET %s from %s: %s", path, client, checked.why)
            return PlainTextResponse("forbidden", status_code=403)
        view = service.book.view(request.path_params["call_id"])  # a done call's from its summary
        if view is None or not view.get("selftest"):
            return JSONResponse({"error": "no selftest call with this id"}, status_code=404)
        return JSONResponse(view)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await service.start()
        if media is not None:
            media.start()
        try:
            yield
        finally:
            if media is not None:
                await media.stop()
            await service.stop()
            checks.shutdown(wait=False, cancel_futures=True)

    routes: list[BaseRoute] = [Route(path, webhook, methods=["POST", "GET"]) for path in ROUTES]
    routes.append(Route("/healthz", healthz, methods=["GET"]))
    routes.append(Route(f"{SELFTEST_ROUTE}/{{call_id}}", selftest_call, methods=["GET"]))
    routes.append(WebSocketRoute(MEDIA_ROUTE, media_endpoint(media, validator, public_url, refusals, no_media)))
    return Starlette(routes=routes, lifespan=lifespan)
