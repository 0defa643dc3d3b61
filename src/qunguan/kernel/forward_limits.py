"""Forward limits: the seam through which rumours' circuit breaker reaches the forward path.

Rumours sits above messaging (it labels messages and reads them), so messaging cannot import
it to ask "may this message go to several groups at once?". It asks here instead, with the
message's provenance and fingerprint; rumours registers the limiter that answers from its
content clusters (CR-6, issue 4 part 8). ``check_forward`` refuses with ``forward_limited``
when more groups are named than the strictest limiter allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from qunguan.kernel.errors import define_error
from qunguan.kernel.uow import UnitOfWork

define_error("forward_limited", 429, "This message is forwarded so often that it may be "
             "forwarded to at most details.max_targets group(s) at a time (details.requested "
             "were named; details.cluster_id names its content cluster). Forward it to one group "
             "at a time, or not at all.")


@dataclass(frozen=True)
class ForwardLimit:
    max_targets: int
    details: dict[str, Any] = field(default_factory=dict)


class ForwardLimiter(Protocol):
    def __call__(self, uow: UnitOfWork, *, message_id: int, origin_id: int,
                 fingerprint: str) -> ForwardLimit | None: ...


_LIMITERS: list[ForwardLimiter] = []


def register_forward_limiter(limiter: ForwardLimiter) -> None:
    if limiter not in _LIMITERS:
        _LIMITERS.append(limiter)


def unregister_forward_limiter(limiter: ForwardLimiter) -> None:
    if limiter in _LIMITERS:
        _LIMITERS.remove(limiter)


def forward_limit(uow: UnitOfWork, *, message_id: int, origin_id: int,
                  fingerprint: str) -> ForwardLimit | None:
    """The strictest limit any registered limiter puts on forwarding the message, or None."""
    found: ForwardLimit | None = None
    for limiter in _LIMITERS:
        limit = limiter(uow, message_id=message_id, origin_id=origin_id,
                        fingerprint=fingerprint)
        if limit is not None and (found is None or limit.max_targets < found.max_targets):
            found = limit
    return found
