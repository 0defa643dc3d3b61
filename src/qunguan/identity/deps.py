"""FastAPI dependencies other routers use: who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from qunguan.identity.models import Account
from qunguan.identity.queries import authenticate
from qunguan.kernel.web import UowDep

# The web pages carry the same bearer token in this HttpOnly cookie (qunguan.web.session);
# the API itself never reads it, so a cross-site form cannot act through the API.
SESSION_COOKIE = "qunguan_session"


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def current_account(uow: UowDep, request: Request) -> Account:
    return authenticate(uow, bearer_token(request))


CurrentAccount = Annotated[Account, Depends(current_account)]
BearerToken = Annotated[str | None, Depends(bearer_token)]
