"""Function restrictions: the seam through which sanctions reach the lower capabilities.

Enforcement sits above messaging and groups (it removes messages, mutes members, closes
groups), so those capabilities cannot import it to ask "may this account forward?". They ask
here instead; enforcement registers the checker that answers from its sanctions (EC-2..EC-5).
A checker raises a documented ``QunguanError`` (``restricted``, ``group_suspended`` …) naming
the sanction; returning means allowed.
"""

from __future__ import annotations

import enum
from typing import Protocol

from qunguan.kernel.uow import UnitOfWork


class Function(enum.StrEnum):
    """What a sanction can take away."""

    POST = "post"  # send or reply in a group
    FORWARD = "forward"
    RED_ENVELOPES = "red_envelopes"
    CREATE_GROUP = "create_group"  # found a group (EC-3: revoke the right to found groups)
    GROUP_ADMIN = "group_admin"  # act as founder/admin of a group (EC-3: suspend admin rights)
    JOIN = "join"  # join a group (asked with the group: a closed group takes no one in)
    # Not taken away by a sanction but gated by credit (EC-1): asked by group creation when
    # the member cap is above the large-group threshold.
    FOUND_LARGE_GROUP = "found_large_group"


class RestrictionChecker(Protocol):
    def __call__(self, uow: UnitOfWork, *, account_id: int, function: Function,
                 group_id: int | None) -> None: ...


_CHECKERS: list[RestrictionChecker] = []


def register_restriction_checker(checker: RestrictionChecker) -> None:
    if checker not in _CHECKERS:
        _CHECKERS.append(checker)


def unregister_restriction_checker(checker: RestrictionChecker) -> None:
    if checker in _CHECKERS:
        _CHECKERS.remove(checker)


def require_allowed(uow: UnitOfWork, *, account_id: int, function: Function,
                    group_id: int | None = None) -> None:
    """Raise if a sanction takes ``function`` away from the account (in ``group_id``)."""
    for checker in _CHECKERS:
        checker(uow, account_id=account_id, function=function, group_id=group_id)
