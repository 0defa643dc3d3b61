"""HTTP plumbing shared by every router: the unit-of-work dependency and the error format."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from qunguan.kernel.errors import QunguanError
from qunguan.kernel.ids import MAX_ID, new_token
from qunguan.kernel.uow import RequestMeta, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_meta(request: Request) -> RequestMeta:
    uows: UnitOfWorkFactory = request.app.state.uows
    header = uows.settings.trusted_proxy_header
    ip: str | None = None
    port: int | None = None
    if request.client is not None:
        ip, port = request.client.host, request.client.port
    if header and request.headers.get(header):
        # The trusted proxy appends the peer it saw; entries before it are client-supplied.
        ip = request.headers[header].split(",")[-1].strip()
    fingerprint = request.headers.get("x-client-fingerprint")
    given = request.headers.get("x-request-id", "")
    return RequestMeta(source_ip=ip, source_port=port,
                       # Only a well-formed id is kept: it lands in the audit evidence.
                       request_id=given if _REQUEST_ID.fullmatch(given) else new_token(9),
                       client_fingerprint=fingerprint[:128] if fingerprint else None)


def get_uow(request: Request) -> Iterator[UnitOfWork]:
    """One transaction per request: committed when the route returns, before the response
    is sent; rolled back on any error unless the error asks to keep its writes."""
    uow = request.app.state.uows(request_meta(request))
    try:
        yield uow
    except QunguanError as exc:
        if exc.persist:
            uow.commit()
        else:
            uow.rollback()
        raise
    except BaseException:
        uow.rollback()
        raise
    else:
        uow.commit()
    finally:
        uow.close()


UowDep = Annotated[UnitOfWork, Depends(get_uow, scope="function")]

# Every row id fits a signed 64-bit integer; bounding path ids here answers 422 before a
# value the database cannot hold gets near it.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


def error_response(status: int, code: str, message: str,
                   details: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details or {}}},
                        status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QunguanError)
    async def _qunguan(_: Request, exc: QunguanError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "The request body is not valid JSON.")
        fields = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in errors]
        # Never echo the input back: it may hold an ID number or a phone number.
        return error_response(422, "invalid_request", "The request is not valid.",
                              {"fields": json.loads(json.dumps(fields, default=str))})

    # A safety net, not validation: a value the database cannot hold (an id of 2**63:
    # PostgreSQL's "bigint out of range", the SQLite driver's OverflowError; a NUL character,
    # which PostgreSQL text refuses) reaches the database only when a schema forgot to bound
    # it. The client caused it; answer as the schema would have, and log it so the missing
    # check gets added.
    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        return _out_of_range(request, exc)

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        return _out_of_range(request, exc)

    @app.exception_handler(UnicodeEncodeError)  # a lone surrogate no check caught
    async def _unencodable(request: Request, exc: UnicodeEncodeError) -> JSONResponse:
        return _out_of_range(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(404, "not_found", "Not found.")
        if exc.status_code == 405:
            return error_response(405, "method_not_allowed", "Method not allowed.")
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot decode at all (bytes that are not UTF-8,
            # JSON nested past the parser's recursion limit): as unreadable as bad JSON.
            return error_response(400, "malformed_json", "The request body is not valid JSON.")
        log.warning("unmapped HTTP error %s", exc.status_code)
        return error_response(exc.status_code, "invalid_request", str(exc.detail))


def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
    log.warning("unstorable input reached the database on %s %s: %s", request.method,
                request.url.path, exc.__class__.__name__)
    return error_response(422, "invalid_request", "A value in the request cannot be stored: "
                          "a number out of range or text with a NUL character.", {"fields": []})


class RedactTokens(logging.Filter):
    """Servers log request lines; a WebSocket URL carries ``?token=``. Redact it."""

    _TOKEN = re.compile(r"(token=)[^&\s\"']+")

    def _redact(self, value: object) -> object:
        return self._TOKEN.sub(r"\1[redacted]", value) if isinstance(value, str) else value

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, Mapping):
            record.args = {k: self._redact(v) for k, v in record.args.items()}
        elif record.args:
            record.args = tuple(self._redact(a) for a in record.args)
        if isinstance(record.msg, str):
            record.msg = self._TOKEN.sub(r"\1[redacted]", record.msg)
        return True


def redact_server_logs() -> None:
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


class Admission:
    """At most ``limit`` requests inside the application at once (see ConcurrencyLimit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._semaphore: asyncio.Semaphore | None = None

    @property
    def semaphore(self) -> asyncio.Semaphore:
        if self._semaphore is None:  # created on the server's event loop
            self._semaphore = asyncio.Semaphore(self.limit)
        return self._semaphore


class ConcurrencyLimit:
    """ASGI middleware: at most ``admission.limit`` HTTP requests inside the application.

    Sync routes and dependencies run on a bounded thread pool, and one request hops between
    threads (dependencies, the route, the commit) while it holds database locks: a row lock
    on PostgreSQL, the write lock on SQLite. If every pool thread were taken by requests
    waiting for such a lock, its holder could never get the thread it needs to commit, and
    everything would stall until a timeout. Admitting fewer requests than there are threads
    rules that out; the rest wait here, on the event loop, holding nothing. WebSockets are
    long-lived and pass; their opening queries take a slot of the same ``Admission``.
    """

    def __init__(self, app: ASGIApp, admission: Admission) -> None:
        self.app = app
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self.admission.semaphore:
            await self.app(scope, receive, send)
