"""A member's corrections page (CR-8): the fact checks of messages they saw, in their language,
marked when withdrawn; the chat page's live banner; nobody reads another member's notices."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, Cast
from tests.messaging.conftest import barrier, next_frame, ws_url
from tests.rumors.debunk_helpers import add, drain, post
from tests.web.conftest import Web

GARLIC = "【转】吃大蒜能治愈新冠肺炎，每天生吃三瓣就不会被感染，转给家人！"


def test_corrections_page_in_both_languages(web: Web, api: Api, cast: Cast, app: Any) -> None:
    web.as_(cast.member)
    page = web.get("/me/corrections")
    assert page.status_code == 200
    assert "您看到过的消息中还没有被证实不实的。" in page.text
    assert 'href="/me/corrections" aria-current="page"' in page.text  # in the menu

    post(api, cast.member, cast.group["id"], GARLIC)
    drain(app)
    created = add(api, cast)
    drain(app)
    page = web.get("/me/corrections").text
    assert f'id="correction-{created["id"]}"' in page
    assert "辟谣 · 谣言" in " ".join(page.split())  # the card: verdict in Chinese
    assert "大蒜有一定抑菌作用" in page
    assert 'href="https://www.piyao.org.cn/"' in page
    assert "已撤回" not in page

    api.post(f"/api/officer/debunks/{created['id']}/retire", as_=cast.officer,
             json={"reason": "录入有误"})
    page = web.get("/me/corrections").text
    assert "已撤回" in page
    assert "管理人员已撤回这条辟谣信息" in page

    web.post("/language", {"lang": "en", "next": "/me/corrections"})
    page = " ".join(web.get("/me/corrections").text.split())
    assert "<h1>Corrections</h1>" in page
    assert "Fact check · False" in page
    assert "withdrawn" in page
    # Someone outside the group was told nothing; and the page needs a login.
    assert "还没有被证实不实" in web.as_(cast.outsider).get("/me/corrections").text
    r = web.as_(None).get("/me/corrections")
    assert r.status_code in (302, 303)
    assert "/login" in r.headers["location"]


def test_a_correction_reaches_an_open_chat_page_live(web: Web, api: Api, cast: Cast,
                                                     app: Any) -> None:
    """The chat page carries a hidden banner that chat.js shows on a correction_sent frame;
    the frame goes to the member's sockets, not to the group."""
    gid = cast.group["id"]
    assert 'id="correction-alert" role="alert" hidden' in web.as_(cast.member).get(
        f"/groups/{gid}").text
    post(api, cast.member, gid, GARLIC)
    drain(app)
    with api.client.websocket_connect(ws_url(cast.member)) as ws, \
            api.client.websocket_connect(ws_url(cast.outsider)) as other:
        next_frame(ws)  # hello
        next_frame(other)
        barrier(ws)
        created = add(api, cast)
        drain(app)
        frame = next_frame(ws)
        while frame["type"] != "correction_sent":  # the cards on the copies come first
            frame = next_frame(ws)
        assert frame["group_id"] is None
        assert frame["payload"]["debunk"]["debunk_id"] == created["id"]
        barrier(other)  # nothing for someone who never saw the message
