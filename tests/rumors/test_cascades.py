"""Content clusters: forward provenance plus near-duplicate copies, any input order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from qunguan.rumors.cascades import Message, cluster_messages

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
ALARM = "紧急通知：今晚十点起全县停水停电三天，请大家马上储备饮用水和蜡烛，转发到每个群"


def msg(i: int, text: str, minutes: int, forwarded_from: str | None = None) -> Message:
    return Message(id=f"m{i}", text=text, ts=T0 + timedelta(minutes=minutes),
                   group=f"g{i % 3}", sender=f"u{i}", forwarded_from=forwarded_from)


MESSAGES = [
    msg(1, ALARM, 0),
    msg(2, ALARM, 5, forwarded_from="m1"),
    msg(3, "", 6, forwarded_from="m2"),  # forward of a forward, no text of its own
    msg(4, "【转】緊急通知：今晚十點起全縣停水停電三天，請大家馬上儲備飲用水和蠟燭", 9),  # re-post
    msg(5, "下午三点在二楼会议室开会，请各位准时参加", 2),
    msg(6, "下午三点在二楼会议室开会，请各位准时参加！", 12),  # a copy of an unrelated text
    msg(7, "收到", 13),
    msg(8, "收到", 14),  # too short to join by text
    msg(9, "x", 20, forwarded_from="gone"),  # forwards of a message not in the input
    msg(10, "y", 21, forwarded_from="gone"),
]


def test_clusters_join_forwards_and_copies() -> None:
    clusters = cluster_messages(MESSAGES)
    assert {clusters[i] for i in ("m1", "m2", "m3", "m4")} == {"m1"}
    assert clusters["m5"] == clusters["m6"] == "m5"
    assert clusters["m7"] == "m7"
    assert clusters["m8"] == "m8"
    assert clusters["m9"] == clusters["m10"] == "m9"
    assert len(set(clusters.values())) == 5


def test_input_order_does_not_matter() -> None:
    expected = cluster_messages(MESSAGES)
    for seed in range(5):
        shuffled = MESSAGES[:]
        random.Random(seed).shuffle(shuffled)
        assert cluster_messages(shuffled) == expected


def test_forward_listed_before_its_original() -> None:
    late = [msg(1, "a", 10, forwarded_from="m2"), msg(2, ALARM, 0)]
    assert cluster_messages(late) == {"m1": "m2", "m2": "m2"}


def test_verbatim_repeats_join_without_growing_the_index(monkeypatch: object) -> None:
    from qunguan.rumors import cascades
    from qunguan.rumors.matcher import Bank

    added: list[str] = []
    real_add = Bank.add

    def counting_add(self: Bank, entry: object) -> None:
        added.append(entry.id)  # type: ignore[attr-defined]
        real_add(self, entry)  # type: ignore[arg-type]

    monkeypatch.setattr(cascades.Bank, "add", counting_add)  # type: ignore[attr-defined]
    repeats = [msg(100 + i, ALARM + ("！！" if i % 2 else ""), 30 + i) for i in range(40)]
    found = cluster_messages([*MESSAGES, *repeats])
    # Every repeat joins the alarm's cluster; of the 40 repeats only the first with "！！"
    # (a text the alarm itself is not, once normalised) was indexed, no verbatim repeat.
    assert {found[m.id] for m in repeats} == {"m1"}
    assert [m.id for m in repeats if m.id in added] == ["m101"]
    assert found["m4"] == "m1"
    assert found["m6"] == "m5"
