"""The officer console (docs/web.md): review queue and cases, sanctions and appeals, the
debunk bank, policy packs, rumour clusters and their cascades, the audit log's status and
dashboards, over the same actions and queries as the API. Only officers see it."""

from __future__ import annotations

from fastapi import APIRouter

from qunguan.web.officer import (
    alerts,
    appeals,
    audit,
    clusters,
    dashboard,
    debunks,
    elections,
    exports,
    groups,
    policy,
    retention,
    review,
    unmasking,
)

# Mounted one by one (web.ROUTERS), so every page route stays a WebRoute that
# tests/web/test_routes.py can see and classify.
ROUTERS: tuple[APIRouter, ...] = tuple(
    m.router for m in (dashboard, review, exports, appeals, debunks, policy, clusters,
                       elections, audit, unmasking, retention, alerts, groups))
