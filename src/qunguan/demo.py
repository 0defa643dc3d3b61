"""The demo institution `make run` seeds: an officer, founders, verified members, one
unverified newcomer, a party-branch group, a village group and a work group with history.

Seeding is idempotent: it does nothing when the demo officer already exists. The identities
are invented (valid check digits, not real people) and go through the same verification
actions and vault as any other.
"""

from __future__ import annotations

from dataclasses import dataclass

from stdnum.cn import ric

from qunguan.envelopes import actions as envelopes
from qunguan.envelopes.models import Split
from qunguan.groups import Category, Role
from qunguan.groups import actions as groups
from qunguan.groups.models import JoinPolicy
from qunguan.identity import Account, AccountKind
from qunguan.identity import actions as identity
from qunguan.identity import queries as identity_queries
from qunguan.identity.vault import phone_index
from qunguan.kernel.events import EventType
from qunguan.kernel.uow import UnitOfWork, record_audit
from qunguan.messaging import actions as messaging
from qunguan.rumors.starter import load_starter_bank

DEMO_PASSWORD = "demo-pass-2026"


def make_resident_id(region: str, birth: str, seq: str) -> str:
    """A syntactically valid resident ID number (region + YYYYMMDD + 3 digits + check)."""
    body = f"{region}{birth}{seq}"
    return body + ric.calc_check_digit(body + "0")  # the function skips the last digit


@dataclass(frozen=True)
class DemoPerson:
    key: str
    phone: str
    display_name: str
    avatar: str
    legal_name: str | None  # None: the unverified newcomer
    id_number: str | None
    role_note: str


CAST = (
    DemoPerson("officer", "13800000001", "值班员老周", "周", "周明德",
               make_resident_id("110105", "19780312", "031"), "officer: reviews verifications"),
    DemoPerson("secretary", "13800000002", "支部书记老王", "王", "王建国",
               make_resident_id("440305", "19690825", "017"), "founder of the party branch"),
    DemoPerson("village_head", "13800000003", "村主任李姐", "李", "李秀英",
               make_resident_id("330106", "19750214", "028"), "founder of the village group"),
    DemoPerson("manager", "13800000004", "项目经理阿强", "强", "陈强",
               make_resident_id("330782", "19880609", "013"), "founder of the work group"),
    DemoPerson("member_chen", "13800000005", "小陈", "陈", "陈晓燕",
               make_resident_id("110108", "19950117", "024"), "verified member"),
    DemoPerson("member_lin", "13800000006", "小林", "林", "林志远",
               make_resident_id("350102", "19921130", "035"), "verified member, admin"),
    DemoPerson("accountant", "13800000007", "会计老孙", "孙", "孙丽华",
               make_resident_id("441602", "19710506", "046"), "verified member"),
    DemoPerson("newcomer", "13800000009", "新同事", "新", None, None,
               "unverified: may read, may not post"),
)


def seed_demo(uow: UnitOfWork) -> bool:
    """Create the demo institution unless it exists. Returns True when it seeded."""
    if identity_queries.account_by_phone_index(uow, phone_index(uow, CAST[0].phone)):
        return False
    people: dict[str, Account] = {}
    for person in CAST:
        account = identity.do_register(uow, phone=person.phone, password=DEMO_PASSWORD,
                                       display_name=person.display_name,
                                       avatar_text=person.avatar)
        if person.legal_name and person.id_number:
            identity.do_submit_verification(
                uow, acting=account, provider="resident_id",
                submission={"legal_name": person.legal_name, "id_number": person.id_number})
        people[person.key] = account
    system = identity_queries.system_account(uow)
    identity.do_set_kind(uow, acting=system, account_id=people["officer"].id,
                         kind=AccountKind.OFFICER)
    load_starter_bank(uow, acting=people["officer"])  # the demo's groups meet a real bank

    branch = groups.do_create_group(
        uow, acting=people["secretary"], name="第三党支部", category=Category.PARTY_BRANCH,
        tier=2, join_policy=JoinPolicy.INVITE_ONLY,
        rules_text="1. 实名发言，文明交流。\n2. 不转发未经核实的消息。\n3. 选举期间不发红包。",
        member_cap=None)
    village = groups.do_create_group(
        uow, acting=people["village_head"], name="青山村村务群",
        category=Category.VILLAGE_COMMITTEE, tier=2, join_policy=JoinPolicy.APPROVAL,
        rules_text="本群用于村务公开和通知，请勿发布广告和未经核实的信息。", member_cap=None)
    work = groups.do_create_group(
        uow, acting=people["manager"], name="项目组", category=Category.WORK, tier=1,
        join_policy=JoinPolicy.APPROVAL, rules_text="工作沟通，内部资料不得外传。",
        member_cap=None)

    def add(group_id: int, founder: Account, member: Account) -> None:
        invitation = groups.do_invite(uow, acting=founder, group_id=group_id,
                                      account_id=member.id)
        groups.do_accept_invitation(uow, acting=member, invitation_id=invitation.id,
                                    rules_version=1)

    for key in ("member_chen", "member_lin", "accountant", "newcomer"):
        add(branch.id, people["secretary"], people[key])
    for key in ("member_chen", "accountant", "manager"):
        add(village.id, people["village_head"], people[key])
    for key in ("member_chen", "member_lin", "newcomer"):
        add(work.id, people["manager"], people[key])
    groups.do_set_role(uow, acting=people["secretary"], group_id=branch.id,
                       account_id=people["member_lin"].id, role=Role.ADMIN)

    def say(who: str, group_id: int, text: str) -> int:
        plan = messaging.check_send_message(uow, acting=people[who], group_id=group_id,
                                            text=text)
        return messaging.do_send_message(uow, plan, acting=people[who]).id

    say("secretary", branch.id, "同志们好，本周五下午三点在村委会二楼开支部会议，请准时参加。")
    say("member_chen", branch.id, "收到，准时参加。")
    say("accountant", branch.id, "收到。会议材料我今天下午打印好。")
    notice = say("village_head", village.id,
                 "通知：明天上午九点起村里停水检修，预计下午三点恢复，请大家提前储水。")
    say("member_chen", village.id, "好的，谢谢李姐提醒。")
    say("manager", work.id, "下周一提交季度报告初稿，大家把各自部分发我。")
    say("member_lin", work.id, "好的，周五前发你。")
    plan = messaging.check_forward(uow, acting=people["manager"], message_id=notice,
                                   group_ids=[work.id])
    messaging.do_forward(uow, plan, acting=people["manager"])
    _demo_envelopes(uow, people, work.id)
    record_audit(uow, EventType.DEMO_SEEDED, acting=system, subject_type="demo",
                 extra={"accounts": len(CAST), "groups": 3})
    uow.emit(EventType.DEMO_SEEDED, accounts=len(CAST), groups=3)
    return True


DEMO_WALLET_FEN = 50_000  # 500 yuan of sandbox (test) money for each verified member


def _demo_envelopes(uow: UnitOfWork, people: dict[str, Account], work_id: int) -> None:
    """Sandbox wallets for the verified cast and a thank-you envelope in the work group, one
    part already claimed, so `make run` shows red envelopes."""
    for key, account in people.items():
        if account.is_verified:
            envelopes.do_topup(uow, acting=account, amount_fen=DEMO_WALLET_FEN,
                               idempotency_key=f"demo-wallet-{key}")
    plan = envelopes.check_send_envelope(uow, acting=people["manager"], group_id=work_id,
                                         total_fen=3000, parts=3, split=Split.LUCKY,
                                         idempotency_key="demo-envelope-1")
    envelope = envelopes.do_send_envelope(uow, plan, acting=people["manager"])
    envelopes.do_claim_envelope(uow, acting=people["member_chen"], envelope_id=envelope.id)
