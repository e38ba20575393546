"""The clarify list's buttons fit every platform's callback data (Telegram: 64 bytes) whatever
the article ids, and pressing one sends that article's steps (issue 11, item 2: a 58-character
article id overflowed the limit and the press went unanswered)."""

from __future__ import annotations

import datetime as dt

from adapters.base import ButtonPress, ChatRef, IncomingMessage, MessageRef, Sender
from intents.decide import Decision, DecisionKind
from kb_index.index import ArticleEntry
from tests.web.conftest import WebEnv

LONG_ID = "his-" + "x" * 54  # 58 characters


async def test_clarify_buttons_carry_positions_and_a_press_answers(web: WebEnv) -> None:
    app = web.app
    app.services.registry.add_chat("web", "h001", "h001", title="web")
    hospital = app.services.registry.get_hospital("h001")
    assert hospital is not None and app.web_chat is not None
    question = IncomingMessage(
        ChatRef("web", "h001"),
        "m1",
        Sender("u1", "护士小张"),
        "连不上数据库",
        dt.datetime.now(dt.UTC),
    )
    choices = (
        ArticleEntry(LONG_ID, "一篇编号很长的文章", "other", "", ""),
        ArticleEntry("hb-001", "客户端连接数据库提示无监听程序", "database", "", ""),
    )
    await app.pipeline.act(
        question, hospital, question.text, Decision(DecisionKind.CLARIFY, choices=choices)
    )

    [listing] = (await app.web_chat.changes("h001", 0, "u1")).messages
    actions = [b["action"] for row in listing["buttons"] for b in row]
    assert all(len(a.encode()) <= 64 for a in actions), actions
    assert not any(LONG_ID in a for a in actions)

    pick = actions[1]  # the database article
    press = ButtonPress(
        MessageRef("web", "h001", listing["id"]), Sender("u1", "护士小张"), pick, "p1"
    )
    await app.pipeline.on_button(press)
    answer = (await app.web_chat.changes("h001", 0, "u1")).messages[-1]
    assert "客户端连接数据库提示无监听程序" in answer["text"]
    assert answer["reply_to"] == "m1"


async def test_none_of_these_closes_the_choices(web: WebEnv) -> None:
    """「都不是，转工程师」 under the choices: a ticket, and the list stays without its buttons,
    saying where the question went (nothing is left to press twice)."""
    app = web.app
    app.services.registry.add_chat("web", "h001", "h001", title="web")
    hospital = app.services.registry.get_hospital("h001")
    assert hospital is not None and app.web_chat is not None
    question = IncomingMessage(
        ChatRef("web", "h001"), "m1", Sender("u1", "护士小张"), "连不上数据库",
        dt.datetime.now(dt.UTC),
    )  # fmt: skip
    choices = (ArticleEntry("hb-001", "客户端连接数据库提示无监听程序", "database", "", ""),)
    await app.pipeline.act(
        question, hospital, question.text, Decision(DecisionKind.CLARIFY, choices=choices)
    )
    [listing] = (await app.web_chat.changes("h001", 0, "u1")).messages
    none = listing["buttons"][-1][0]
    assert none["label"] == "都不是，转工程师"
    press = ButtonPress(
        MessageRef("web", "h001", listing["id"]), Sender("u1", "护士小张"), none["action"], "p1"
    )
    await app.pipeline.on_button(press)
    [number] = [t.number for t in app.services.tickets.open_tickets()]
    closed = await app.web_chat.board.get("h001", listing["id"])
    assert closed is not None
    assert closed.buttons == () and closed.edited
    assert closed.text == f"{listing['text']}\n\n➡️ 已转工程师：工单 #{number}"
