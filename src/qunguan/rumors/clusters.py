"""Content clusters in the server (CR-6) and the circuit breaker (issue 4 part 8).

An outbox handler on every delivery (posted, forwarded, released) puts the message in a
cluster, the same way ``rumors.cascades.cluster_messages`` does offline:

1. a forward joins the cluster of the message it forwards (``parent_id``);
2. otherwise a message whose normalised fingerprint was seen before joins that cluster: the
   fingerprint table is in the database, so every process agrees, and two processes racing on
   a new fingerprint settle on one cluster through its primary key;
3. otherwise a text of at least ``MIN_COPY_CHARS`` letters that scores ``COPY_SCORE`` or more
   against a text first seen in the last ``rumors_cluster_copy_days`` days joins its cluster
   (an inferred copy). That near-copy index is kept per process, built from the fingerprint
   table and refreshed like the debunk bank (``rumors_bank_refresh_seconds``); a copy sent
   through another process within that window may start a cluster of its own (a missed join,
   never a wrong one);
4. otherwise it starts a new cluster.

Each time a cluster reaches a new group, ``breaker.trips_at`` is asked whether its groups'
first arrivals put ``rumors_breaker_groups`` groups within ``rumors_breaker_minutes``; if so,
and no debunk with verdict "true" matches the cluster's first text, the system account trips
the breaker: every copy gets the "frequently forwarded" label and forwards are limited through
``kernel.forward_limits``. Officers lift or tighten it per cluster.

Assigning a message to a cluster is derived data (rebuildable from the messages, whose own
audit records hold fingerprint and provenance), so it is not audited; tripping and setting
the breaker are.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from qunguan.groups import Group
from qunguan.groups import queries as group_queries
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import Event, EventType
from qunguan.kernel.forward_limits import ForwardLimit, register_forward_limiter
from qunguan.kernel.outbox import register_handler
from qunguan.kernel.text import optional_text
from qunguan.kernel.uow import UnitOfWork, record_audit
from qunguan.messaging import Message, MessageStatus
from qunguan.messaging import actions as messaging_actions
from qunguan.rumors import text as rtext
from qunguan.rumors.bank import live_bank
from qunguan.rumors.breaker import BreakerRule, trips_at
from qunguan.rumors.cascades import COPY_SCORE, MIN_COPY_CHARS
from qunguan.rumors.matcher import Bank, BankEntry, Verdict
from qunguan.rumors.models import BreakerState, ClusterFingerprint, ClusterMember, ContentCluster

MARK_RULE = "rumors.frequently_forwarded"
MARK_ZH = "此消息被频繁转发，转发前请先核实。"
MARK_EN = "Forwarded many times. Check it before you forward it."
MAX_TREE_NODES = 2000
MAX_PAGE = 200
_LABEL_CHUNK = 500


def rule_of(uow: UnitOfWork) -> BreakerRule:
    s = uow.settings
    return BreakerRule(groups=s.rumors_breaker_groups, minutes=s.rumors_breaker_minutes,
                       max_targets=s.rumors_breaker_max_targets)


def mark(cluster: ContentCluster) -> dict[str, Any]:
    """The label every copy of a tripped cluster carries (one per cluster: replaced, never
    repeated, by ``do_label_messages``)."""
    return {"rule": MARK_RULE, "detector": "cascade", "text_zh": MARK_ZH, "text_en": MARK_EN,
            "data": {"key": f"cascade:{cluster.id}", "cluster_id": cluster.id}}


# --- the per-process near-copy index ---------------------------------------------------------


class NearCopyIndex:
    """A matcher ``Bank`` over the first text of each fingerprint seen in the last
    ``rumors_cluster_copy_days`` days, entry id = fingerprint. Rows are added by
    ``created_at``; a row committed late by another process is caught by re-reading a slack
    window behind the newest row seen (known fingerprints are skipped)."""

    SLACK = timedelta(minutes=10)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bank = Bank()
        self._added: dict[str, datetime] = {}
        self._newest: datetime | None = None
        self._checked_at = -math.inf

    def note(self, fingerprint: str, text: str, at: datetime) -> None:
        """A fingerprint this process just registered: matchable at once."""
        with self._lock:
            if fingerprint not in self._added:
                self._bank.add(BankEntry(id=fingerprint, claim=text))
                self._added[fingerprint] = at

    def refresh(self, uow: UnitOfWork) -> None:
        if time.monotonic() - self._checked_at < uow.settings.rumors_bank_refresh_seconds:
            return
        since = uow.now() - timedelta(days=uow.settings.rumors_cluster_copy_days)
        start = since if self._newest is None else max(since, self._newest - self.SLACK)
        rows = uow.session.execute(
            select(ClusterFingerprint.fingerprint, ClusterFingerprint.created_at, Message.text)
            .join(Message, Message.id == ClusterFingerprint.message_id)
            .where(ClusterFingerprint.created_at >= start, Message.text.is_not(None))
            .order_by(ClusterFingerprint.created_at)).all()
        with self._lock:
            for fingerprint, at, text in rows:
                if fingerprint not in self._added and text:
                    self._bank.add(BankEntry(id=fingerprint, claim=text))
                    self._added[fingerprint] = at
                if self._newest is None or at > self._newest:
                    self._newest = at
            for fingerprint in [f for f, at in self._added.items() if at < since]:
                self._bank.retire(fingerprint)
                del self._added[fingerprint]
            self._checked_at = time.monotonic()

    def best(self, text: str) -> str | None:
        """The fingerprint of the closest earlier text scoring at least COPY_SCORE."""
        with self._lock:
            found = self._bank.match(text, top=1)
        return found[0].debunk_id if found and found[0].score >= COPY_SCORE else None


_INDEXES: weakref.WeakKeyDictionary[Engine, NearCopyIndex] = weakref.WeakKeyDictionary()
_INDEX_LOCK = threading.Lock()


def near_copy_index(uow: UnitOfWork) -> NearCopyIndex:
    bind = uow.session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with _INDEX_LOCK:
        index = _INDEXES.get(engine)
        if index is None:
            index = _INDEXES[engine] = NearCopyIndex()
    index.refresh(uow)
    return index


# --- assignment ------------------------------------------------------------------------------


def _claim_fingerprint(uow: UnitOfWork, message: Message, cluster_id: int) -> int:
    """Register the message's fingerprint for ``cluster_id`` unless another cluster already
    holds it; returns the cluster that holds it (a concurrent process may have won)."""
    dialect = uow.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(ClusterFingerprint).values(
        fingerprint=message.fingerprint, cluster_id=cluster_id, message_id=message.id,
        created_at=message.created_at).on_conflict_do_nothing(
        index_elements=[ClusterFingerprint.fingerprint]).returning(ClusterFingerprint.cluster_id)
    won = uow.session.scalar(stmt)
    if won is not None:
        return int(won)
    holder = uow.session.scalar(select(ClusterFingerprint.cluster_id).where(
        ClusterFingerprint.fingerprint == message.fingerprint))
    assert holder is not None
    return int(holder)


def known_fingerprint(uow: UnitOfWork, fingerprint: str) -> ClusterFingerprint | None:
    return uow.session.get(ClusterFingerprint, fingerprint)


def assign(uow: UnitOfWork, message: Message,
           arrived_at: datetime | None = None) -> ClusterMember | None:
    """Put a delivered message in its cluster (idempotent: a retried event finds the row).

    ``arrived_at`` is when the group's members received it: its ``created_at`` unless it was
    held and released later. Cascade timing (first arrival per group, the breaker's window,
    speed) counts arrivals, whatever order the outbox processes them in."""
    if message.status != MessageStatus.DELIVERED or message.text is None:
        return None
    at = arrived_at or message.created_at
    existing = uow.session.get(ClusterMember, message.id)
    if existing is not None:
        return existing
    cluster_id: int | None = None
    copy_of: int | None = None
    if message.parent_id is not None:
        parent = uow.session.get(ClusterMember, message.parent_id)
        if parent is not None:
            cluster_id = parent.cluster_id
    if cluster_id is None:
        known = known_fingerprint(uow, message.fingerprint)
        if known is not None:
            cluster_id = known.cluster_id
            if message.parent_id is None and known.message_id != message.id:
                copy_of = known.message_id
    index = near_copy_index(uow)
    if cluster_id is None and message.parent_id is None \
            and len(rtext.compact(rtext.prepare(message.text))) >= MIN_COPY_CHARS:
        similar = index.best(message.text)
        if similar is not None:
            row = uow.session.get(ClusterFingerprint, similar)
            if row is not None:
                cluster_id, copy_of = row.cluster_id, row.message_id
    created: ContentCluster | None = None
    if cluster_id is None:
        created = ContentCluster(first_message_id=message.id, first_group_id=message.group_id,
                                 first_seen_at=at,
                                 last_seen_at=at, messages=0,
                                 groups_reached=0, members_exposed=0, max_hop=0,
                                 breaker_state=BreakerState.NONE)
        uow.session.add(created)
        uow.session.flush()
        cluster_id = created.id
    holder = _claim_fingerprint(uow, message, cluster_id)
    if created is not None and holder != cluster_id:
        # Another process registered this text first: join its cluster instead.
        uow.session.delete(created)
        uow.session.flush()
        cluster_id, created = holder, None
    if holder == cluster_id:
        index.note(message.fingerprint, message.text, at)
    cluster = uow.session.get(ContentCluster, cluster_id, with_for_update=True,
                              populate_existing=True)
    assert cluster is not None
    group_first = uow.session.scalar(select(func.min(ClusterMember.created_at)).where(
        ClusterMember.cluster_id == cluster.id, ClusterMember.group_id == message.group_id))
    new_group = group_first is None
    # An arrival processed late but earlier than the group's known first one moves that
    # group's first arrival, which can put more groups inside the breaker's window.
    earlier_first = group_first is not None and at < group_first
    member = ClusterMember(message_id=message.id, cluster_id=cluster.id,
                           group_id=message.group_id, sender_id=message.sender_id,
                           parent_id=message.parent_id, copy_of_id=copy_of, hop=message.hop,
                           new_group=new_group, created_at=at)
    uow.session.add(member)
    cluster.messages += 1
    cluster.max_hop = max(cluster.max_hop, message.hop)
    cluster.last_seen_at = max(cluster.last_seen_at, at)
    if at < cluster.first_seen_at:  # a held message released late
        cluster.first_seen_at = at
        cluster.first_message_id, cluster.first_group_id = message.id, message.group_id
    if new_group:
        cluster.groups_reached += 1
        cluster.members_exposed += len(group_queries.member_ids(uow, message.group_id))
    uow.session.flush()
    if (new_group or earlier_first) and cluster.breaker_state == BreakerState.NONE:
        _maybe_trip(uow, cluster)
    elif cluster.breaker_state == BreakerState.TRIPPED:
        system = identity_queries.system_account(uow)
        messaging_actions.do_label_messages(uow, acting=system, message_ids=[message.id],
                                            label=mark(cluster))
    return member


def group_firsts(uow: UnitOfWork, cluster_id: int) -> list[datetime]:
    """The first arrival of the cluster in each group it reached, sorted."""
    return sorted(uow.session.scalars(
        select(func.min(ClusterMember.created_at))
        .where(ClusterMember.cluster_id == cluster_id)
        .group_by(ClusterMember.group_id)))


def _exempting_debunk(uow: UnitOfWork, cluster: ContentCluster) -> int | None:
    """A debunk found "true" that the cluster's first text matches at the labelling threshold:
    a checked true notice (say an official recall) may spread as fast as it likes."""
    first = uow.session.get(Message, cluster.first_message_id)
    if first is None or not first.text:
        return None
    live = live_bank(uow)
    for found in live.match(first.text, top=3):
        if found.score >= live.thresholds.label and found.card["verdict"] == Verdict.TRUE:
            return found.debunk_id
    return None


def _maybe_trip(uow: UnitOfWork, cluster: ContentCluster) -> None:
    rule = rule_of(uow)
    if cluster.groups_reached < rule.groups:
        return
    at = trips_at(group_firsts(uow, cluster.id), rule)
    if at is None:
        return
    exempt = _exempting_debunk(uow, cluster)
    if exempt is not None:
        cluster.exempt_debunk_id = exempt
        return
    do_trip_breaker(uow, cluster, acting=identity_queries.system_account(uow), rule=rule)


def _label_cluster(uow: UnitOfWork, acting: Account, cluster: ContentCluster) -> None:
    ids = list(uow.session.scalars(select(ClusterMember.message_id).where(
        ClusterMember.cluster_id == cluster.id).order_by(ClusterMember.message_id)))
    for start in range(0, len(ids), _LABEL_CHUNK):
        messaging_actions.do_label_messages(uow, acting=acting,
                                            message_ids=ids[start:start + _LABEL_CHUNK],
                                            label=mark(cluster))


def do_trip_breaker(uow: UnitOfWork, cluster: ContentCluster, *, acting: Account,
                    rule: BreakerRule) -> ContentCluster:
    """Automation: mark every copy "frequently forwarded" and limit its forwards."""
    cluster.breaker_state = BreakerState.TRIPPED
    cluster.breaker_max_targets = rule.max_targets
    cluster.breaker_changed_at = uow.now()
    record_audit(uow, EventType.CLUSTER_BREAKER_TRIPPED, acting=acting,
                 subject_type="cluster", subject_id=cluster.id,
                 extra={"groups_reached": cluster.groups_reached, "groups": rule.groups,
                        "minutes": rule.minutes, "max_targets": rule.max_targets})
    uow.emit(EventType.CLUSTER_BREAKER_TRIPPED, cluster_id=cluster.id,
             groups_reached=cluster.groups_reached, max_targets=rule.max_targets)
    _label_cluster(uow, acting, cluster)
    return cluster


def do_set_breaker(uow: UnitOfWork, *, acting: Account, cluster_id: int, state: str,
                   max_targets: int | None, reason: str) -> ContentCluster:
    """An officer trips (or tightens) or lifts a cluster's breaker. Lifted, the automation
    leaves the cluster alone; the label already on its copies stays (it was forwarded that
    often), the limit goes."""
    identity_queries.require_officer(acting)
    why = optional_text(reason, 500)
    if why is None:
        raise QunguanError("invalid_request", "Give a reason.",
                           fields=[{"loc": ["body", "reason"], "msg": "reason is required"}])
    if state not in (BreakerState.TRIPPED, BreakerState.LIFTED):
        raise QunguanError("invalid_request", "state must be tripped or lifted.",
                           fields=[{"loc": ["body", "state"], "msg": "tripped or lifted"}])
    cluster = uow.session.get(ContentCluster, cluster_id, with_for_update=True)
    if cluster is None:
        raise QunguanError("not_found", "No such cluster.")
    limit = uow.settings.max_forward_targets
    if max_targets is not None and not 1 <= max_targets <= limit:
        raise QunguanError("invalid_request", f"max_targets must be between 1 and {limit}.",
                           fields=[{"loc": ["body", "max_targets"],
                                    "msg": f"1 to {limit}"}])
    before = {"state": cluster.breaker_state, "max_targets": cluster.breaker_max_targets}
    was_tripped = cluster.breaker_state == BreakerState.TRIPPED
    cluster.breaker_state = state
    cluster.breaker_max_targets = (
        (max_targets or uow.settings.rumors_breaker_max_targets)
        if state == BreakerState.TRIPPED else None)
    cluster.breaker_changed_at = uow.now()
    after = {"state": cluster.breaker_state, "max_targets": cluster.breaker_max_targets}
    record_audit(uow, EventType.CLUSTER_BREAKER_SET, acting=acting, subject_type="cluster",
                 subject_id=cluster.id,
                 extra={"before": before, "after": after, "reason": why})
    uow.emit(EventType.CLUSTER_BREAKER_SET, cluster_id=cluster.id, state=cluster.breaker_state,
             max_targets=cluster.breaker_max_targets)
    if state == BreakerState.TRIPPED and not was_tripped:
        _label_cluster(uow, acting, cluster)
    return cluster


def on_message_delivered(uow: UnitOfWork, event: Event) -> None:
    view = event.payload.get("message")
    if not isinstance(view, dict) or not isinstance(view.get("id"), int):
        return
    message = uow.session.get(Message, view["id"])
    if message is None:
        return
    released = event.payload.get("released_at")
    assign(uow, message, datetime.fromisoformat(released) if isinstance(released, str) else None)


def forward_limit(uow: UnitOfWork, *, message_id: int, origin_id: int,
                  fingerprint: str) -> ForwardLimit | None:
    """The limiter rumours registers in ``kernel.forward_limits``. The fingerprint answers
    for a message whose own assignment is still in the outbox."""
    cluster_id = uow.session.scalar(select(ClusterMember.cluster_id).where(
        ClusterMember.message_id == message_id))
    if cluster_id is None:
        cluster_id = uow.session.scalar(select(ClusterFingerprint.cluster_id).where(
            ClusterFingerprint.fingerprint == fingerprint))
    if cluster_id is None:
        return None
    cluster = uow.session.get(ContentCluster, cluster_id)
    if cluster is None or cluster.breaker_state != BreakerState.TRIPPED:
        return None
    return ForwardLimit(cluster.breaker_max_targets or uow.settings.rumors_breaker_max_targets,
                        {"cluster_id": cluster.id})


# --- reads (officers only) -------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterStats:
    cluster: ContentCluster
    groups_first_hour: int


def groups_first_hour(uow: UnitOfWork, cluster: ContentCluster) -> int:
    hour = cluster.first_seen_at + timedelta(hours=1)
    return sum(1 for first in group_firsts(uow, cluster.id) if first <= hour)


def _stats(uow: UnitOfWork, cluster: ContentCluster) -> ClusterStats:
    return ClusterStats(cluster, groups_first_hour(uow, cluster))


def list_clusters(uow: UnitOfWork, *, viewer: Account, state: str | None = None,
                  min_groups: int = 1, since: datetime | None = None, offset: int = 0,
                  limit: int = 50) -> list[ClusterStats]:
    """Widest reach first (groups reached, then newest)."""
    identity_queries.require_officer(viewer)
    stmt = select(ContentCluster).where(ContentCluster.groups_reached >= min_groups)
    if state is not None:
        if state not in set(BreakerState):
            raise QunguanError("invalid_request", "Unknown state.",
                               fields=[{"loc": ["query", "state"],
                                        "msg": ", ".join(s.value for s in BreakerState)}])
        stmt = stmt.where(ContentCluster.breaker_state == state)
    if since is not None:
        stmt = stmt.where(ContentCluster.last_seen_at >= since)
    rows = uow.session.scalars(stmt.order_by(ContentCluster.groups_reached.desc(),
                                             ContentCluster.id.desc())
                               .offset(offset).limit(max(1, min(limit, MAX_PAGE))))
    return [_stats(uow, c) for c in rows]


def access_cluster(uow: UnitOfWork, *, viewer: Account, cluster_id: int) -> ContentCluster:
    identity_queries.require_officer(viewer)
    cluster = uow.session.get(ContentCluster, cluster_id)
    if cluster is None:
        raise QunguanError("not_found", "No such cluster.")
    return cluster


def cluster_detail(uow: UnitOfWork, *, viewer: Account, cluster_id: int
                   ) -> tuple[ClusterStats, list[dict[str, Any]], bool]:
    """Stats and the tree: one node per message (forwards point at their parent, copies at
    the message they copy), senders by display name only. Returns (stats, nodes, truncated)."""
    cluster = access_cluster(uow, viewer=viewer, cluster_id=cluster_id)
    members = list(uow.session.scalars(select(ClusterMember).where(
        ClusterMember.cluster_id == cluster.id)
        .order_by(ClusterMember.created_at, ClusterMember.message_id)
        .limit(MAX_TREE_NODES + 1)))
    truncated = len(members) > MAX_TREE_NODES
    members = members[:MAX_TREE_NODES]
    senders = identity_queries.accounts_by_ids(uow, sorted({m.sender_id for m in members}))
    group_ids = sorted({m.group_id for m in members})
    # .all(): a Result has keys() and dict() would take it for a mapping.
    names = dict(uow.session.execute(
        select(Group.id, Group.name).where(Group.id.in_(group_ids))).all()) if group_ids else {}
    nodes = [{"message_id": m.message_id, "group_id": m.group_id,
              "group_name": names.get(m.group_id, ""),
              "sender_display_name": senders[m.sender_id].display_name
              if m.sender_id in senders else "?",
              "created_at": m.created_at, "hop": m.hop, "parent_id": m.parent_id,
              "copy_of_id": m.copy_of_id, "new_group": m.new_group} for m in members]
    return _stats(uow, cluster), nodes, truncated


register_handler(EventType.MESSAGE_POSTED, on_message_delivered)
register_handler(EventType.MESSAGE_FORWARDED, on_message_delivered)
register_handler(EventType.MESSAGE_RELEASED, on_message_delivered)
register_forward_limiter(forward_limit)
