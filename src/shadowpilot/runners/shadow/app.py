"""The ASGI app: Twilio's webhooks in, signature checked, handed to the ShadowService, 204 out.

Routes (DESIGN.md): POST /twilio/transcriptions, /twilio/conversations,
/twilio/taskrouter (GET too, for statusCallbackMethod=GET), an unsigned
GET /healthz, and GET /selftest/<CallSid>, signed like a webhook, which shows
`shadow selftest` how its synthetic call went (only selftest calls: a real
call's words are never served). A request that fails the signature check gets
403 and a log line that names the route, the client and why, never the body.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from ...errors import StoreError
from .selftest import SELFTEST_ROUTE
from .service import ShadowService
from .signature import MAX_BODY, check
from .wire import ROUTES, BadPayload

log = logging.getLogger("shadowpilot.shadow")


def create_app(service: ShadowService, *, auth_token: str, public_url: str) -> Starlette:
    validator = RequestValidator(auth_token)

    async def webhook(request: Request) -> Response:
        path = request.url.path
        client = request.client.host if request.client else "?"
        body = await request.body()
        if len(body) > MAX_BODY:
            log.warning("413 %s %s from %s: body of %d bytes", request.method, path, client, len(body))
            return PlainTextResponse("body too large", status_code=413)
        try:
            checked = check(
                validator,
                public_url=public_url,
                path=path,
                query=request.url.query,
                method=request.method,
                headers=request.headers,
                content_type=request.headers.get("content-type", ""),
                body=body,
            )
            if not checked.ok:
                log.warning("403 %s %s from %s: %s", request.method, path, client, checked.why)
                return PlainTextResponse("forbidden", status_code=403)
            await service.accept(ROUTES[path], checked.params)
        except BadPayload as exc:
            log.warning("400 %s %s from %s: %s", request.method, path, client, exc)
            return PlainTextResponse(f"bad request: {exc}", status_code=400)
        except StoreError as exc:
            log.error("503 %s %s: not made durable: %s", request.method, path, exc)
            return PlainTextResponse("event not stored; retry", status_code=503)
        # TaskRouter wants 204 with a JSON content type; the others take any 2xx.
        return Response(status_code=204, media_type="application/json")

    async def healthz(request: Request) -> Response:
        return JSONResponse(service.health())

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
            log.warning("403 GET %s from %s: %s", path, client, checked.why)
            return PlainTextResponse("forbidden", status_code=403)
        view = service.book.view(request.path_params["call_id"])  # a done call's from its summary
        if view is None or not view.get("selftest"):
            return JSONResponse({"error": "no selftest call with this id"}, status_code=404)
        return JSONResponse(view)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    routes = [Route(path, webhook, methods=["POST", "GET"]) for path in ROUTES]
    routes.append(Route("/healthz", healthz, methods=["GET"]))
    routes.append(Route(f"{SELFTEST_ROUTE}/{{call_id}}", selftest_call, methods=["GET"]))
    return Starlette(routes=routes, lifespan=lifespan)
