"""Event and audit types: one ``enum.unique`` IntEnum in numbered blocks per capability.

A number is never reused: retired types stay here, commented as retired. The same type names
the audit record of an action and the outbox event it emits.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@enum.unique
class EventType(enum.IntEnum):
    # 100: kernel and operations
    DEMO_SEEDED = 101
    # 200: identity
    ACCOUNT_REGISTERED = 201
    LOGGED_IN = 202
    LOGGED_OUT = 203
    LOGIN_FAILED = 204
    PROFILE_UPDATED = 205
    VERIFICATION_SUBMITTED = 206
    ACCOUNT_VERIFIED = 207
    VERIFICATION_REJECTED = 208
    VAULT_READ = 209
    VAULT_KEYS_ROTATED = 210
    IDENTITY_BLACKLISTED = 211
    ACCOUNT_KIND_CHANGED = 212
    # 213..229: dual-control unmasking (CR-7, PI-3, PI-4)
    UNMASK_REQUESTED = 213
    UNMASK_APPROVED = 214
    UNMASK_REJECTED = 215
    UNMASK_REVEALED = 216  # the requester read the identity, once (the vault logs VAULT_READ)
    # 300: groups
    GROUP_CREATED = 301
    MEMBER_JOINED = 302
    JOIN_REQUESTED = 303
    JOIN_APPROVED = 304
    JOIN_REJECTED = 305
    MEMBER_INVITED = 306
    MEMBER_REMOVED = 307
    MEMBER_MUTED = 308
    MEMBER_UNMUTED = 309
    RULES_PINNED = 310
    FOUNDER_TRANSFERRED = 311
    ROLE_CHANGED = 312
    MEMBER_LEFT = 313
    # 314..329: election periods (PAY-3, PAY-4)
    ELECTION_DECLARED = 314
    ELECTION_CANCELLED = 315
    GROUP_ORG_UNIT_SET = 316  # an officer placed a group in an organisational unit
    # 400: messaging
    MESSAGE_POSTED = 401
    MESSAGE_FORWARDED = 402
    MESSAGE_RECALLED = 403
    MESSAGE_HELD = 404
    MESSAGE_BLOCKED = 405
    MESSAGE_DELETED = 406
    # 500: screening (policy engine)
    POLICY_LOADED = 501
    SCREENING_FLAGGED = 502  # a post-send rule fired on a delivered message
    # 600: rumours; 601..629 the debunk bank, labels and corrections
    DEBUNK_ADDED = 601
    DEBUNK_EDITED = 602
    DEBUNK_RETIRED = 603
    DEBUNKS_IMPORTED = 604
    MESSAGES_LABELLED = 605  # messaging.do_label_messages: a label (debunk card) added later
    CORRECTION_SWEEP = 606  # the next batch of a retroactive debunk match (outbox only)
    CORRECTION_SENT = 607  # members were told of a debunk of a message they saw (CR-8)
    DEBUNK_PHRASING_ADDED = 608  # another form of a claim, typed or learned from a review
    DEBUNK_PHRASING_RETIRED = 609
    # 650..669: content clusters (cascades) and the circuit breaker
    CLUSTER_BREAKER_TRIPPED = 650  # a cluster reached N groups in T minutes (automation)
    CLUSTER_BREAKER_SET = 651  # an officer lifted or tightened a cluster's breaker
    # 700: red envelopes; 701..729 providers, the ledger and envelopes
    WALLET_TOPPED_UP = 701  # sandbox/provider payment captured into a member's wallet
    ENVELOPE_SENT = 702
    ENVELOPE_CLAIMED = 703
    ENVELOPE_REFUNDED = 704  # expired; the unclaimed remainder went back to the sender
    # 705..749: election rules, vote-buying detectors, the PAY-5 export, limits
    ENVELOPE_HELD = 705  # an election's hold policy: funded, not claimable until reviewed
    ENVELOPE_RELEASED = 706  # a reviewer released a held envelope: it opens for claims
    ENVELOPE_REFUSED = 707  # a reviewer refused a held envelope: the total went back
    VOTEBUYING_ALERT = 708  # a vote-buying detector fired; the alert goes to review
    ENVELOPES_EXPORTED = 709  # an officer exported the red-envelope trail (PAY-5)
    ENVELOPE_LIMIT_SET = 710  # an officer set a group's per-envelope limit, with a reason
    ENVELOPE_LIMIT_CLEARED = 711  # an officer cleared it: the category's or default applies
    # 800: enforcement
    REPORT_FILED = 801
    REVIEW_ITEM_OPENED = 802
    REVIEW_ITEM_CLAIMED = 803
    REVIEW_ITEM_DECIDED = 804
    SANCTION_IMPOSED = 805
    SANCTION_LIFTED = 806
    STATEMENT_ISSUED = 807
    APPEAL_FILED = 808
    APPEAL_DECIDED = 809
    MESSAGE_RELEASED = 810  # a held message was approved by a reviewer and delivered
    MESSAGE_REMOVED = 811  # an officer removed a message (review decision or emergency)
    GROUPS_FROZEN = 812  # emergency mode: posting frozen in a group or a category (CR-9)
    GROUPS_UNFROZEN = 813
    FINGERPRINT_PURGED = 814  # emergency mode: every copy of a fingerprint removed (CR-9)
    BLACKLIST_LIFTED = 815  # an overturned blacklist frees the identity to register again
    # 820..829: reports and removals (the review queue's engineer; 815..819 left to sanctions)
    REPORT_DECIDED = 820  # a reporter is told the outcome of their report (AT-3)
    MESSAGE_RESTORED = 821  # an officer's removal was undone (appeal overturned)
    # 900: audit log; 901..929 the Merkle log, checkpoints and its self-check
    AUDITLOG_CHECKPOINT_SIGNED = 901  # outbox only: a checkpoint is not itself a record
    AUDITLOG_KEY_ROTATED = 902  # a new checkpoint signing key; old public keys are kept
    AUDITLOG_TAMPERING_DETECTED = 903  # the self-check found records altered or removed
    AUDITLOG_EXPORTED = 904  # an operator exported the log with its leaves
    # 930..959: retention, legal hold and case export
    LEGAL_HOLD_PLACED = 930
    LEGAL_HOLD_LIFTED = 931
    RETENTION_PURGED = 932  # the purge worker removed or anonymised content past retention
    CASE_EXPORTED = 933
    # 1000: importers and archive audits
    ARCHIVE_IMPORT_STARTED = 1001  # an archive began loading into the database (--import-into)
    ARCHIVE_BATCH_IMPORTED = 1002  # a batch of archived events with the chain digest so far
    ARCHIVE_IMPORTED = 1003  # an archive import ended: totals and the final chain digest
    # 1101..1119: web (actions the pages needed; the pages themselves emit nothing)
    RULES_ACKNOWLEDGED = 1101  # a member acknowledged the group rules now in force (GA-9)


@dataclass(frozen=True)
class Event:
    """A fact that happened, delivered after commit and kept in the outbox.

    ``group_id`` routes realtime delivery to the group's members; ``account_ids`` to
    particular accounts (e.g. the member who was removed).
    """

    type: EventType
    payload: dict[str, Any] = field(default_factory=dict)
    group_id: int | None = None
    account_ids: tuple[int, ...] = ()
    outbox_id: int | None = None


Subscriber = Callable[[Event], None]


class EventBus:
    """In-process fan-out, called only after a transaction commits."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, fn: Subscriber) -> None:
        self._subscribers.append(fn)

    def unsubscribe(self, fn: Subscriber) -> None:
        self._subscribers.remove(fn)

    def publish(self, events: list[Event]) -> None:
        """Deliver each event to every subscriber. The transaction has already committed, so a
        subscriber that fails is logged and skipped: it must neither keep the event from the
        others nor turn a committed request into an error the client would retry."""
        for ev in events:
            for fn in list(self._subscribers):
                try:
                    fn(ev)
                except Exception:
                    log.exception("event subscriber %r failed on %s", fn, ev.type.name)
