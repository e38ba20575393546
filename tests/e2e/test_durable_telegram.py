"""The durable inbox and outbox over Telegram: the whole bot (real pipeline, stores, PTB
adapter) against the fake Bot API on 127.0.0.1, with crashes simulated by stopping the bot
with work unfinished and restarting it on the same database."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError

from bot.app import App
from bot.inbox.models import InboxState, OutboxState
from bot.inbox.store import InboxStore
from bot.infra.config import Settings
from intents.decide import Decision
from tests.e2e.test_bot_telegram import (
    DESK,
    H1_CHAT,
    NURSE,
    WANG,
    index_dir,  # noqa: F401  (fixture)
    settings,  # noqa: F401  (fixture)
    start_bot,
    tg,  # noqa: F401  (fixture)
    ticket_number,
)
from tests.fakes.telegram_api import FakeTelegram
from tests.linked import until_linked
from tests.lookups import outbox_count

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")

QUESTION = "yb结算报2304，总额和明细对不上"


@pytest.fixture
def fast(settings: Settings) -> Settings:  # noqa: F811
    """Backoffs short enough that a refused update is asked for again at once."""
    return dataclasses.replace(
        settings, telegram=dataclasses.replace(settings.telegram, network_backoff=0.01)
    )


def inbox_states(app: App) -> list[str]:
    with app.services.db.engine.connect() as conn:
        return [row[0] for row in conn.execute(text("SELECT state FROM inbox_event ORDER BY id"))]


@contextmanager
def never_marked_done(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Inside: events are handled but never marked done — what a kill -9 leaves after every
    event's effects and before the inbox recorded it."""
    with monkeypatch.context() as patch:
        patch.setattr(InboxStore, "finish", lambda *_: None)
        yield


def count(app: App, table: str) -> int:
    with app.services.db.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


@contextmanager
def database_down(engine: Engine) -> Iterator[threading.Event]:
    """Every statement fails as if the server were gone, until the yielded event is set."""
    back = threading.Event()

    def refuse(*_: object) -> None:
        if not back.is_set():
            raise OperationalError("SELECT", {}, Exception("database unavailable"))

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield back
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


async def test_an_update_stored_but_not_handled_is_handled_once_after_a_restart(
    settings: Settings,  # noqa: F811
    tg: FakeTelegram,  # noqa: F811
) -> None:
    app = await start_bot(settings, tg)
    release = threading.Event()
    decide = app.services.engine.decide

    def stuck(*args: object) -> Decision:
        release.wait(10)
        return decide(*args)  # type: ignore[arg-type]

    app.services.engine.decide = stuck  # type: ignore[method-assign]
    tg.user_message(H1_CHAT, NURSE, QUESTION)
    await tg.wait_for_updates_consumed()  # confirmed to Telegram: it was stored
    assert inbox_states(app) == [InboxState.PENDING]
    await app.inbox.stop(0)  # the crash: handling cut off
    release.set()
    await app.stop()
    assert tg.sent_messages(H1_CHAT) == []

    again = await start_bot(settings, tg)
    try:
        answer = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
        await again.inbox.drained()
        assert "住院医保结算提示总额与明细合计不一致" in (answer.text or "")
        assert len(tg.sent_messages(H1_CHAT)) == 1
        assert count(again, "exchange") == 1
        assert inbox_states(again) == [InboxState.DONE]
    finally:
        await again.stop()


async def test_replaying_a_whole_ticket_repeats_nothing(
    settings: Settings,  # noqa: F811
    tg: FakeTelegram,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Question → 没解决 → ticket → 接单 → relay both ways → /resolve; then every event is
    replayed as after a crash that came before any was marked done."""
    with never_marked_done(monkeypatch):
        app = await start_bot(settings, tg)
        try:
            tg.user_message(H1_CHAT, NURSE, QUESTION)
            answer = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
            tg.callback_query(H1_CHAT, NURSE, answer.message_id, answer.buttons[1]["callback_data"])
            card = await tg.wait_for_sent(lambda m: m.chat_id == DESK)
            number = ticket_number(card.text)
            tg.callback_query(DESK, WANG, card.message_id, card.buttons[0]["callback_data"])
            await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "已受理" in (m.text or ""))
            # a reply quotes a message the bot has recorded (as a person reads it first)
            await until_linked(app, number, chat_id=str(DESK))
            tg.user_message(DESK, WANG, "发下截图", reply_to_message_id=card.message_id)
            relayed = await tg.wait_for_sent(lambda m: "发下截图" in (m.text or ""))
            await until_linked(app, "发下截图", chat_id=str(H1_CHAT))
            tg.user_message(H1_CHAT, NURSE, "截图马上发", reply_to_message_id=relayed.message_id)
            await tg.wait_for_sent(lambda m: m.chat_id == DESK and "截图马上发" in (m.text or ""))
            tg.user_message(DESK, WANG, f"/resolve {number} 重新对总账")
            await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "处理完成" in (m.text or ""))
            await app.inbox.drained()
            before = (len(tg.sent_messages()), count(app, "ticket_event"), count(app, "exchange"))
            messages = len(app.services.tickets.messages(number))
        finally:
            await app.stop()
    again = await start_bot(settings, tg)
    try:
        await again.inbox.drained()
        assert set(inbox_states(again)) == {InboxState.DONE}
        after = (len(tg.sent_messages()), count(again, "ticket_event"), count(again, "exchange"))
        assert after == before
        assert len(again.services.tickets.messages(number)) == messages
        assert count(again, "ticket") == 1
        assert again.services.tickets.get(number).status == "resolved"
    finally:
        await again.stop()


async def test_a_ticket_opened_before_a_crash_gets_its_hospital_notice_on_replay(
    settings: Settings,  # noqa: F811
    tg: FakeTelegram,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with never_marked_done(monkeypatch):
        app = await start_bot(settings, tg)
        try:
            tg.user_message(H1_CHAT, NURSE, QUESTION)
            answer = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
            data = answer.buttons[1]["callback_data"]
            tg.callback_query(H1_CHAT, NURSE, answer.message_id, data)
            notice = await tg.wait_for_sent(
                lambda m: m.chat_id == H1_CHAT and "工单" in (m.text or "")
            )
            await app.inbox.drained()
        finally:
            await app.stop()
    # what a crash right after the ticket's transaction leaves: the notice neither sent nor
    # linked, no event marked done
    with app.services.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM outbox_message WHERE key LIKE '%:b:%'"))
        conn.execute(
            text("DELETE FROM message_link WHERE message_id = :m"), {"m": str(notice.message_id)}
        )
    sent_before = len(tg.sent_messages())

    again = await start_bot(settings, tg)
    try:
        await again.inbox.drained()
        told = tg.sent_messages()[sent_before:]
        assert [m.text for m in told] == [notice.text]  # the opening notice, once, nothing else
        assert count(again, "ticket") == 1
    finally:
        await again.stop()


async def test_database_down_updates_wait_unconfirmed_the_group_is_told_once(
    fast: Settings,
    tg: FakeTelegram,  # noqa: F811
) -> None:
    app = await start_bot(fast, tg)
    try:
        with database_down(app.services.db.engine) as back:
            tg.user_message(H1_CHAT, NURSE, QUESTION)
            tg.user_message(H1_CHAT, NURSE, "住院病人入院时间录错了，床位费多算了一天")
            delayed = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
            assert "回复会延迟" in (delayed.text or "")
            polls = len(tg.calls_to("getUpdates"))
            await tg.wait_until(lambda: len(tg.calls_to("getUpdates")) >= polls + 3)
            assert len(tg.pending_updates) == 2  # nothing confirmed while nothing is stored
            assert len(tg.sent_messages(H1_CHAT)) == 1  # told once, not once per attempt
            back.set()
            await tg.wait_for_updates_consumed()
            await tg.wait_for_sent(3, chat_id=H1_CHAT)
        await app.inbox.drained()
        replies = tg.sent_messages(H1_CHAT)[1:]
        assert "总额与明细" in (replies[0].text or "") and "床位费" in (replies[1].text or "")
        assert len(tg.sent_messages(H1_CHAT)) == 3
    finally:
        await app.stop()


async def test_a_send_with_unknown_outcome_is_recorded_and_never_repeated(
    settings: Settings,  # noqa: F811
    tg: FakeTelegram,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with never_marked_done(monkeypatch):
        app = await start_bot(settings, tg)
        try:
            tg.lose_answer_next("sendMessage")
            tg.user_message(H1_CHAT, NURSE, QUESTION)
            await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
            await app.inbox.drained()
            assert outbox_count(app.services.db.engine, OutboxState.UNKNOWN) == 1
        finally:
            await app.stop()
    again = await start_bot(settings, tg)  # replays the question: the answer is not re-sent
    try:
        await again.inbox.drained()
        assert inbox_states(again) == [InboxState.DONE]
        assert len(tg.sent_messages(H1_CHAT)) == 1
    finally:
        await again.stop()
