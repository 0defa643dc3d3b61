"""A property test of the ledger: random sequences of top-ups, sends, claims, refunds and
retries keep the ledger summing to zero, no balance below zero, every claim at most once,
and every wallet equal to a model kept beside it. SQLite in-process, actions called directly
(one unit of work per step, as a request would)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from qunguan.config import Settings
from qunguan.envelopes import actions, ledger
from qunguan.envelopes.models import Envelope, EnvelopeClaim, Split
from qunguan.envelopes.worker import refund_expired
from qunguan.groups import actions as group_actions
from qunguan.groups.models import Category, JoinPolicy
from qunguan.identity import Account
from qunguan.identity.models import AccountKind
from qunguan.kernel.clock import FixedClock
from qunguan.kernel.db import make_engine
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventBus
from qunguan.kernel.uow import UnitOfWork, UnitOfWorkFactory
from qunguan.migrations import upgrade

MEMBERS = 4
_TEMPLATE: dict[str, Path] = {}

step = st.one_of(
    st.tuples(st.just("topup"), st.integers(0, MEMBERS - 1), st.integers(1, 5000),
              st.integers(0, 3)),
    st.tuples(st.just("send"), st.integers(0, MEMBERS - 1), st.integers(1, 3000),
              st.integers(1, MEMBERS), st.sampled_from(["lucky", "fixed"]), st.integers(0, 3)),
    st.tuples(st.just("claim"), st.integers(0, MEMBERS - 1), st.integers(0, 5)),
    st.tuples(st.just("expire"), st.integers(1, 30)),
)


class World:
    def __init__(self, tmp: Path) -> None:
        path = tmp / "prop.db"
        if "template" not in _TEMPLATE:  # migrating once per run keeps each example fast
            template = tmp.parent / "ledger-template.db"
            upgrade(f"sqlite:///{template}")
            _TEMPLATE["template"] = template
        shutil.copy(_TEMPLATE["template"], path)
        url = f"sqlite:///{path}"
        self.engine = make_engine(url)
        self.clock = FixedClock()
        self.uows = UnitOfWorkFactory(
            sessionmaker(self.engine, expire_on_commit=False),
            settings=Settings(database_url=url, data_dir=tmp, envelope_expiry_seconds=60,
                              envelope_daily_max_fen=10**9, run_workers=False),
            clock=self.clock, bus=EventBus())
        self.people: list[int] = []
        uow = self.uows()
        accounts = [Account(kind=AccountKind.MEMBER, display_name=f"成员{i}",
                            created_at=uow.now()) for i in range(MEMBERS)]
        uow.session.add_all(accounts)
        uow.session.flush()
        for a in accounts:
            a.verification = "verified"
        self.people = [a.id for a in accounts]
        group = group_actions.do_create_group(
            uow, acting=accounts[0], name="红包群", category=Category.SOCIAL, tier=1,
            join_policy=JoinPolicy.APPROVAL, rules_text="友善", member_cap=None)
        self.group_id = group.id
        for a in accounts[1:]:
            invitation = group_actions.do_invite(uow, acting=accounts[0], group_id=group.id,
                                                 account_id=a.id)
            group_actions.do_accept_invitation(uow, acting=a, invitation_id=invitation.id,
                                               rules_version=group.rules_version)
        uow.commit()
        uow.close()

    def run(self, fn: Any) -> Any:
        uow: UnitOfWork = self.uows()
        try:
            result = fn(uow)
            uow.commit()
            return result
        except QunguanError:
            uow.rollback()
            return None
        finally:
            uow.close()

    def account(self, uow: UnitOfWork, i: int) -> Account:
        found = uow.session.get(Account, self.people[i])
        assert found is not None
        return found


def check(world: World, wallets: list[int], claims: set[tuple[int, int]]) -> None:
    uow = world.uows()
    try:
        assert ledger.totals(uow) == (0, 0)
        got = [ledger.balance_of(uow, ledger.wallet_key(p)) for p in world.people]
        assert got == wallets
        assert all(b >= 0 for b in got)
        rows = uow.session.execute(select(EnvelopeClaim.envelope_id, EnvelopeClaim.account_id))
        seen = [(e, a) for e, a in rows]
        assert len(seen) == len(set(seen))
        assert set(seen) == claims
    finally:
        uow.close()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_ledger_invariants(tmp_path_factory: Any, steps: list[tuple[Any, ...]]) -> None:
    world = World(tmp_path_factory.mktemp("ledger"))
    try:
        wallets = [0] * MEMBERS
        claims: set[tuple[int, int]] = set()
        envelopes: list[int] = []
        for s in steps:
            if s[0] == "topup":
                _, who, amount, key = s
                first_time = world.run(lambda u, w=who, k=key: ledger.find_transaction(
                    u, f"topup:{world.people[w]}:k{k}")) is None
                done = world.run(lambda u, w=who, a=amount, k=key: actions.do_topup(
                    u, acting=world.account(u, w), amount_fen=a, idempotency_key=f"k{k}"))
                if done is not None and first_time:
                    wallets[who] += amount
            elif s[0] == "send":
                _, who, total, parts, split, key = s

                def do_send(u: UnitOfWork, w: int = who, t: int = total, p: int = parts,
                            sp: str = split, k: int = key) -> tuple[int, bool]:
                    acting = world.account(u, w)
                    plan = actions.check_send_envelope(
                        u, acting=acting, group_id=world.group_id, total_fen=t, parts=p,
                        split=Split(sp), idempotency_key=f"s{k}")
                    return actions.do_send_envelope(u, plan, acting=acting).id, (
                        plan.existing is None)

                sent = world.run(do_send)
                if sent is not None and sent[1]:
                    wallets[who] -= total
                    envelopes.append(sent[0])
            elif s[0] == "claim":
                _, who, index = s
                if not envelopes:
                    continue
                envelope_id = envelopes[index % len(envelopes)]
                got = world.run(lambda u, w=who, e=envelope_id: actions.do_claim_envelope(
                    u, acting=world.account(u, w), envelope_id=e).amount_fen)
                if got is not None:
                    assert (envelope_id, world.people[who]) not in claims
                    claims.add((envelope_id, world.people[who]))
                    wallets[who] += got
            else:
                world.clock.advance(seconds=s[1])
                uow = world.uows()
                try:
                    owed = {e.id: (e.sender_id, e.remaining_fen) for e in uow.session.scalars(
                        select(Envelope).where(Envelope.status == "open",
                                               Envelope.expires_at <= uow.now()))}
                finally:
                    uow.close()
                assert refund_expired(world.uows) == len(owed)
                assert refund_expired(world.uows) == 0  # a retry refunds nothing more
                for sender, remaining in owed.values():
                    wallets[world.people.index(sender)] += remaining
            check(world, wallets, claims)
    finally:
        world.engine.dispose()
