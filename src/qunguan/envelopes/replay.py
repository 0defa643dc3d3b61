"""Replay a scenario file through the real ledger, envelope actions and detectors.

``qunguan envelopes replay FILE`` (and ``qunguan eval envelopes``) give this a fresh database:
members, groups and memberships are written directly (they are the scenario's setting, not
under test), elections are declared through ``groups.actions``, and every send and claim goes
through ``envelopes.actions`` at the scenario's own time, with the outbox (the detectors and
the review queue) drained as the clock moves, so an alert's time is when the server would
have raised it. Senders' wallets are topped up through the sandbox provider just before a
send when they hold too little.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from qunguan.envelopes import actions, worker
from qunguan.envelopes import ledger as ledger_mod
from qunguan.envelopes.models import EnvelopeAlert, Split
from qunguan.groups import Category, ElectionPolicy, ElectionScope, Group, Membership, Role
from qunguan.groups import actions as group_actions
from qunguan.identity import Account, AccountKind
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.ids import new_code
from qunguan.kernel.outbox import process_batch
from qunguan.kernel.uow import UnitOfWork, UnitOfWorkFactory

DRAIN_EVERY = timedelta(minutes=5)
REFUND_EVERY = timedelta(hours=6)


class ReplayClock:
    """The scenario's time: set by the replay, read by every unit of work."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class ScenarioError(ValueError):
    """A line of the scenario file that cannot be replayed (its number and why)."""


def parse_time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: a time is an ISO 8601 string")
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ScenarioError(f"{where}: {value!r} is not an ISO 8601 time") from None
    if ts.tzinfo is None:
        raise ScenarioError(f"{where}: {value!r} has no time zone")
    return ts.astimezone(UTC)


@dataclass
class ReplayResult:
    alerts: list[dict[str, Any]] = field(default_factory=list)
    sends: int = 0
    claims: int = 0
    refused: Counter[str] = field(default_factory=Counter)


class Replay:
    def __init__(self, uows: UnitOfWorkFactory, clock: ReplayClock) -> None:
        self.uows = uows
        self.clock = clock
        self.accounts: dict[str, int] = {}
        self.groups: dict[str, int] = {}
        self.elections: dict[str, int] = {}
        self.envelopes: dict[str, int] = {}
        self.officer_id = 0
        self.last_drain: datetime | None = None
        self.last_refund: datetime | None = None
        self.result = ReplayResult()

    # --- the run ----------------------------------------------------------------------------

    def run(self, lines: list[dict[str, Any]]) -> ReplayResult:
        previous: datetime | None = None
        for number, line in enumerate(lines, start=1):
            kind = line.get("type") if isinstance(line, dict) else None
            where = f"line {number} ({kind})"
            if kind in ("send", "claim"):
                ts = parse_time(line.get("ts"), where)
                if previous is not None and ts < previous:
                    raise ScenarioError(f"{where}: events are in time order")
                previous = ts
                self._advance(ts)
            if kind == "member":
                self._member(line, where)
            elif kind == "group":
                self._group(line, where)
            elif kind == "election":
                self._election(line, where)
            elif kind == "send":
                self._send(line, where)
            elif kind == "claim":
                self._claim(line, where)
            elif kind in ("label", "period"):
                continue  # ground truth and the evaluated period, for scoring: not replayed
            else:
                raise ScenarioError(f"{where}: unknown line type {kind!r}")
        if previous is not None:
            self._advance(previous + timedelta(days=2), final=True)
        self.result.alerts = self._alerts()
        return self.result

    def _advance(self, ts: datetime, final: bool = False) -> None:
        if self.last_drain is None:
            self.last_drain = self.last_refund = ts
        if final or ts - self.last_drain >= DRAIN_EVERY:
            self._drain()
            self.last_drain = ts
        assert self.last_refund is not None
        if final or ts - self.last_refund >= REFUND_EVERY:
            self.clock.at = ts
            while worker.refund_expired(self.uows):
                continue
            self.last_refund = ts
        self.clock.at = ts

    def _drain(self) -> None:
        for _ in range(1000):
            if not process_batch(self.uows, limit=500):
                return

    def _write(self, fn: Any) -> Any:
        uow = self.uows()
        try:
            out = fn(uow)
            uow.commit()
            return out
        except BaseException:
            uow.rollback()
            raise
        finally:
            uow.close()

    # --- setting ----------------------------------------------------------------------------

    def _officer(self, uow: UnitOfWork) -> Account:
        if not self.officer_id:
            officer = Account(kind=AccountKind.OFFICER, display_name="回放审核员",
                              verification="verified", verified_at=self.clock.at,
                              created_at=self.clock.at)
            uow.session.add(officer)
            uow.session.flush()
            self.officer_id = officer.id
        found = uow.session.get(Account, self.officer_id)
        assert found is not None
        return found

    def _member(self, line: dict[str, Any], where: str) -> None:
        ref, name = line.get("id"), line.get("display_name") or line.get("id")
        if not isinstance(ref, str) or not isinstance(name, str) or ref in self.accounts:
            raise ScenarioError(f"{where}: a member has a new string id and a display name")

        def add(uow: UnitOfWork) -> int:
            account = Account(kind=AccountKind.MEMBER, display_name=name[:64],
                              verification="verified", verified_at=self.clock.at,
                              verified_via="scenario", created_at=self.clock.at)
            uow.session.add(account)
            uow.session.flush()
            return account.id

        self.accounts[ref] = self._write(add)

    def _account(self, ref: Any, where: str) -> int:
        if ref not in self.accounts:
            raise ScenarioError(f"{where}: unknown member {ref!r}")
        return self.accounts[ref]

    def _group(self, line: dict[str, Any], where: str) -> None:
        ref, members = line.get("id"), line.get("members")
        if not isinstance(ref, str) or ref in self.groups or not isinstance(members, list) \
                or not members:
            raise ScenarioError(f"{where}: a group has a new string id and a list of members")
        try:
            category = Category(line.get("category", "work"))
        except ValueError:
            raise ScenarioError(f"{where}: unknown category {line.get('category')!r}") from None
        ids = list(dict.fromkeys(self._account(m, where) for m in members))
        founder = self._account(line.get("founder", members[0]), where)

        def add(uow: UnitOfWork) -> int:
            group = Group(code=new_code(), name=str(line.get("name", ref))[:64],
                          category=str(category), tier=1, founder_id=founder,
                          join_policy="approval", member_cap=max(2, len(ids)),
                          member_count=len(ids), posting_suspended=False, rules_text="",
                          rules_version=1, created_at=self.clock.at,
                          org_unit=line.get("org_unit"))
            uow.session.add(group)
            uow.session.flush()
            for account_id in ids:
                role = Role.FOUNDER if account_id == founder else Role.MEMBER
                uow.session.add(Membership(group_id=group.id, account_id=account_id, role=role,
                                           joined_at=self.clock.at, rules_version_ack=1,
                                           rules_ack_at=self.clock.at))
            return group.id

        self.groups[ref] = self._write(add)

    def _election(self, line: dict[str, Any], where: str) -> None:
        ref = line.get("id")
        if not isinstance(ref, str) or ref in self.elections:
            raise ScenarioError(f"{where}: an election has a new string id")
        try:
            scope = ElectionScope(line.get("scope", "group"))
            policy = ElectionPolicy(line["policy"]) if line.get("policy") else None
            category = Category(line["category"]) if line.get("category") else None
        except ValueError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
        group_id = self.groups.get(line["group"]) if line.get("group") else None
        if line.get("group") and group_id is None:
            raise ScenarioError(f"{where}: unknown group {line['group']!r}")
        candidates = [self._account(c, where) for c in line.get("candidates", [])]
        associates = {self._account(a, where): self._account(c, where)
                      for a, c in (line.get("associates") or {}).items()}
        starts = parse_time(line.get("starts_at"), where)
        ends = parse_time(line.get("ends_at"), where)
        vote = parse_time(line["vote_at"], where) if line.get("vote_at") else None

        def declare(uow: UnitOfWork) -> int:
            election = group_actions.do_declare_election(
                uow, acting=self._officer(uow), name=str(line.get("name", ref)), scope=scope,
                starts_at=starts, ends_at=ends, vote_at=vote, policy=policy,
                group_id=group_id, category=category, org_unit=line.get("org_unit"),
                candidate_ids=candidates, associates=associates)
            return election.id

        try:
            self.elections[ref] = self._write(declare)
        except QunguanError as exc:
            raise ScenarioError(f"{where}: {exc.code}: {exc.message}") from None

    # --- events -----------------------------------------------------------------------------

    def _send(self, line: dict[str, Any], where: str) -> None:
        ref = line.get("envelope")
        if not isinstance(ref, str) or ref in self.envelopes:
            raise ScenarioError(f"{where}: a send names a new envelope id")
        sender_id = self._account(line.get("sender"), where)
        group_id = self.groups.get(line.get("group"))  # type: ignore[arg-type]
        if group_id is None:
            raise ScenarioError(f"{where}: unknown group {line.get('group')!r}")
        total, parts = line.get("total_fen"), line.get("parts", 1)
        if not isinstance(total, int) or isinstance(total, bool) or not isinstance(parts, int):
            raise ScenarioError(f"{where}: total_fen and parts are integers")
        recipient = self._account(line["recipient"], where) if line.get("recipient") else None
        try:
            split = Split(line.get("split", "lucky"))
        except ValueError:
            raise ScenarioError(f"{where}: split is lucky or fixed") from None
        self.result.sends += 1

        def send(uow: UnitOfWork) -> int:
            sender = uow.session.get(Account, sender_id)
            assert sender is not None
            have = ledger_mod.balance_of(uow, ledger_mod.wallet_key(sender_id))
            if have < total:
                actions.do_topup(uow, acting=sender, amount_fen=max(total - have, 100_000),
                                 idempotency_key=f"replay-{ref}")
            plan = actions.check_send_envelope(uow, acting=sender, group_id=group_id,
                                               total_fen=total, parts=parts, split=split,
                                               idempotency_key=f"replay-{ref}",
                                               recipient_id=recipient)
            return actions.do_send_envelope(uow, plan, acting=sender).id

        try:
            self.envelopes[ref] = self._write(send)
        except QunguanError as exc:
            self.result.refused[f"send:{exc.code}"] += 1

    def _claim(self, line: dict[str, Any], where: str) -> None:
        ref = line.get("envelope")
        if not isinstance(ref, str):
            raise ScenarioError(f"{where}: a claim names an envelope")
        envelope_id = self.envelopes.get(ref)
        member_id = self._account(line.get("member"), where)
        if envelope_id is None:
            self.result.refused["claim:envelope_not_sent"] += 1
            return
        self.result.claims += 1

        def claim(uow: UnitOfWork) -> None:
            member = uow.session.get(Account, member_id)
            assert member is not None
            actions.do_claim_envelope(uow, acting=member, envelope_id=envelope_id)

        try:
            self._write(claim)
        except QunguanError as exc:
            self.result.refused[f"claim:{exc.code}"] += 1

    # --- output -----------------------------------------------------------------------------

    def _alerts(self) -> list[dict[str, Any]]:
        by_id = {v: k for k, v in self.envelopes.items()}
        people = {v: k for k, v in self.accounts.items()}
        groups = {v: k for k, v in self.groups.items()}
        elections = {v: k for k, v in self.elections.items()}
        uow = self.uows()
        try:
            rows = list(uow.session.scalars(select(EnvelopeAlert).order_by(EnvelopeAlert.id)))
            return [{"pattern": a.pattern, "sender": people.get(a.sender_id),
                     "group": groups.get(a.group_id), "election": elections.get(a.election_id)
                     if a.election_id is not None else None,
                     "envelopes": [by_id.get(i, str(i)) for i in a.envelope_ids],
                     "at": a.created_at.isoformat(), "first_at": a.first_envelope_at.isoformat(),
                     "explanation": a.explanation, "alert_id": a.id} for a in rows]
        finally:
            uow.close()
