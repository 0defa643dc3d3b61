"""Server-rendered pages over the same actions and queries as the API (docs/web.md).

``install(app)`` mounts the pages and the static assets; nothing else imports ``web``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from qunguan.web import account, admin, chat, envelopes, me, membership
from qunguan.web import officer as officer_console
from qunguan.web.render import STATIC

# membership before chat: /groups/new is not a group's number.
ROUTERS = (account.router, membership.router, chat.router, me.router, envelopes.router,
           admin.router, *officer_console.ROUTERS)


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
