"""create_app(settings): builds the services and mounts every capability's router."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy.orm import sessionmaker

from qunguan import __version__
from qunguan.auditlog import queries as auditlog_queries
from qunguan.auditlog.routes import router as auditlog_router
from qunguan.auditlog.worker import AppendWorker, SelfCheckWorker
from qunguan.config import Settings
from qunguan.enforcement.intake_routes import router as intake_router
from qunguan.enforcement.routes import router as enforcement_router
from qunguan.envelopes.routes import router as envelopes_router
from qunguan.envelopes.worker import RefundWorker
from qunguan.governance.routes import router as governance_router
from qunguan.governance.worker import PurgeWorker
from qunguan.groups.routes import router as groups_router
from qunguan.identity import verification  # noqa: F401  (registers the built-in providers)
from qunguan.identity.routes import router as identity_router
from qunguan.importers.routes import router as importers_router
from qunguan.kernel.clock import Clock, SystemClock
from qunguan.kernel.db import make_engine
from qunguan.kernel.events import EventBus
from qunguan.kernel.outbox import OutboxWorker
from qunguan.kernel.uow import UnitOfWorkFactory
from qunguan.kernel.web import (
    Admission,
    ConcurrencyLimit,
    install_error_handlers,
    redact_server_logs,
)
from qunguan.messaging.realtime import Hub
from qunguan.messaging.routes import router as messaging_router
from qunguan.migrations import SchemaError, check_schema
from qunguan.models import load_all_models
from qunguan.rumors.routes import router as rumors_router
from qunguan.screening.routes import router as screening_router
from qunguan.web import install as install_web

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None,
               check_migrations: bool = True) -> FastAPI:
    """The whole service. Refuses (SchemaError) to build on an unmigrated or newer schema."""
    settings = settings or Settings()
    load_all_models()
    engine = make_engine(settings.database_url)
    if check_migrations:
        try:
            check_schema(engine)
        except SchemaError:
            engine.dispose()  # release the connection the check opened
            raise
    bus = EventBus()
    hub = Hub()
    bus.subscribe(hub.on_event)
    uows = UnitOfWorkFactory(sessionmaker(engine, expire_on_commit=False), settings=settings,
                             clock=clock or SystemClock(), bus=bus)
    worker = OutboxWorker(uows, settings.outbox_poll_seconds)
    refunds = RefundWorker(uows, settings.envelope_refund_poll_seconds)
    purges = PurgeWorker(uows, settings.retention_poll_seconds)
    auditlog_workers = (AppendWorker(uows, settings.auditlog_sequence_seconds),
                        SelfCheckWorker(uows, settings.auditlog_self_check_seconds))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hub.bind(asyncio.get_running_loop())
        redact_server_logs()
        # More threads than admitted requests, so an admitted request always finds one.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, settings.max_concurrent_requests + 8)
        if settings.run_workers:
            worker.start()
            refunds.start()
            purges.start()
            for w in auditlog_workers:
                w.start()
        try:
            yield
        finally:
            if settings.run_workers:
                worker.stop()
                refunds.stop()
                purges.stop()
                for w in auditlog_workers:
                    w.stop()
            engine.dispose()

    app = FastAPI(title="qunguan", version=__version__, lifespan=lifespan,
                  description="Group information service for institutions: real-name "
                  "accounts, groups and messaging with governance built in.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.uows = uows
    app.state.bus = bus
    app.state.hub = hub
    install_error_handlers(app)
    app.state.admission = Admission(settings.max_concurrent_requests)
    app.add_middleware(ConcurrencyLimit, admission=app.state.admission)
    for router in (identity_router, groups_router, messaging_router, auditlog_router):
        app.include_router(router)
    app.include_router(intake_router)  # reports, review queue, emergency mode
    app.include_router(enforcement_router)  # sanctions, credit, statements, appeals
    app.include_router(screening_router)  # the active policy pack and its rule hits
    app.include_router(rumors_router)  # the debunk bank
    app.include_router(envelopes_router)  # wallets and red envelopes
    app.include_router(governance_router)  # legal holds, retention, unmasking, case export
    app.include_router(importers_router)  # archive imports and their events

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, object]:
        """``status`` is "alert" when the audit log's self-check found tampering."""
        uow = uows()
        try:
            auditlog = auditlog_queries.log_health(uow)
        finally:
            uow.close()
        status = "alert" if auditlog["status"] == "tampered" else "ok"
        return {"status": status, "version": __version__, "auditlog": auditlog}

    install_web(app)  # the pages: "/" is the member's start page (docs/web.md)

    return app


def app_from_env() -> FastAPI:
    """ASGI factory for process managers: ``uvicorn --factory qunguan.app:app_from_env``."""
    return create_app(Settings())
