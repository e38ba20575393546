"""The behaviour every platform adapter owes the core, run for each platform's real adapter
against its fake server (tests/contract/platforms.py). Written against the ``Adapter``
protocol and ``CoreHandlers`` only; platform-specific behaviour stays in tests/e2e."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.base import (
    Button,
    Citation,
    DeclaresSendBudget,
    DeliveryError,
    IncomingMessage,
    ReleasesSends,
    Reply,
)
from tests.contract.platforms import PLATFORMS, Capability, Platform

# PTB 22 warns on every RetryAfter it builds (int retry_after is deprecated); not our concern
pytestmark = pytest.mark.filterwarnings(
    "ignore:Deprecated since version v22.2. In a future major version attribute .retry_after."
)


@pytest.fixture(params=sorted(PLATFORMS))
async def platform(request: pytest.FixtureRequest) -> AsyncIterator[Platform]:
    async with PLATFORMS[request.param]() as running:
        assert running.adapter.platform == running.name
        yield running


async def asked(platform: Platform, text: str) -> IncomingMessage:
    """A user asks ``text``; the question as the core received it."""
    return await platform.core.message(await platform.user_says(text))


async def test_an_answer_arrives_rendered_with_citation_buttons_and_mention(
    platform: Platform,
) -> None:
    question = await asked(platform, "怎么重置密码")
    ref = await platform.adapter.send(
        Reply(
            platform.group,
            "请按以下步骤重置：打开 HIS 登录页 & 点「忘记密码」",
            reply_to=question.message_id,
            citation=Citation("kb-12", "重置 HIS 密码", "http://kb.local/kb/kb-12"),
            buttons=((Button("解决了", "fb:yes:12"), Button("没解决", "fb:no:12")),),
            mention_user_ids=(platform.engineer,),
        )
    )
    assert (ref.platform, ref.chat_id) == (platform.name, platform.group.chat_id)
    shown = platform.shown(ref)
    assert "请按以下步骤重置" in shown.text and "忘记密码" in shown.text
    assert "重置 HIS 密码" in shown.text and "http://kb.local/kb/kb-12" in shown.text
    assert shown.actions == ["fb:yes:12", "fb:no:12"]
    assert platform.engineer in shown.mentions
    if platform.can(Capability.QUOTE):
        assert shown.reply_to == question.message_id  # threaded under / bound to the question
    else:  # declared: the answer is addressed to the asker instead
        assert shown.reply_to is None and question.sender.user_id in shown.mentions


async def test_a_press_round_trips_the_action_and_is_acknowledged_then_the_card_is_edited(
    platform: Platform,
) -> None:
    question = await asked(platform, "打印机卡纸")
    card = await platform.adapter.send(
        Reply(
            platform.group,
            "这个回答有帮助吗？",
            reply_to=question.message_id,
            buttons=((Button("有帮助", "fb:yes:42"), Button("没帮助", "fb:no:42")),),
        )
    )
    await platform.press(card, "fb:no:42")
    press = await platform.core.wait_until(lambda: platform.core.presses, what="the press")
    assert [p.action for p in press] == ["fb:no:42"]
    assert press[0].message == card

    await platform.adapter.acknowledge(press[0], "已记录，正在转人工")
    if platform.can(Capability.TOAST):
        assert platform.acknowledged(press[0]) == ["已记录，正在转人工"]
    else:  # declared: acknowledging succeeds and shows nothing; the edit below tells
        assert platform.acknowledged(press[0]) == []

    await platform.adapter.edit(card, Reply(platform.group, "✅ 已转人工处理"))
    shown = platform.shown(card)
    assert "已转人工处理" in shown.text and shown.actions == []


async def test_incoming_message_fields_and_a_reply_to_the_bot(platform: Platform) -> None:
    question_id = await platform.user_says("HIS 挂号界面打不开")
    m = await platform.core.message(question_id)
    assert m.chat.platform == platform.name and m.chat.chat_id == platform.group.chat_id
    assert m.text == "HIS 挂号界面打不开"  # the @mention of the bot is not part of the text
    assert m.mentions_bot and not m.from_self and not m.edited and not m.forwarded
    assert m.reply_to_message_id is None and m.attachments == ()
    assert m.sent_at.utcoffset() is not None and m.sender.user_id and not m.sender.is_bot

    answer = await platform.adapter.send(Reply(m.chat, "请重启浏览器", reply_to=m.message_id))
    follow_id = await platform.user_says("还是不行", reply_to=answer)
    follow = await platform.core.message(follow_id)
    assert follow.mentions_bot
    # the conversation it continues: the bot's answer, or the thread the answer lives in
    assert follow.reply_to_message_id in {answer.message_id, question_id}

    if platform.can(Capability.UNADDRESSED):  # delivered, and marked as not addressed
        chatter = await platform.core.message(await platform.user_chats("大家好，今天谁值班？"))
        assert not chatter.mentions_bot


async def test_a_file_arrives_as_an_attachment_with_its_caption(platform: Platform) -> None:
    if not platform.can(Capability.FILES):
        pytest.skip(f"{platform.name} declares no files: {platform.lacks[Capability.FILES]}")
    message_id = await platform.user_sends_file("日志在这里", "his-error.pdf", b"%PDF-1.4 HIS")
    m = await platform.core.message(message_id)
    assert m.text == "日志在这里" and m.mentions_bot
    (attachment,) = m.attachments
    assert attachment.file_name == "his-error.pdf" and attachment.file_id
    assert attachment.size == len(b"%PDF-1.4 HIS")


async def test_a_failing_core_does_not_lose_later_messages(platform: Platform) -> None:
    await platform.core.message(await platform.user_says("boom 第一条"))
    later = await platform.core.message(await platform.user_says("第二条"))
    assert later.text == "第二条"


async def test_rate_limited_sends_are_each_delivered_exactly_once(platform: Platform) -> None:
    texts = [f"工单 #2026-00000{i} 已受理" for i in range(4)]
    before = platform.sends()
    platform.throttle_next_sends(3)  # refusals land on several of the concurrent sends
    refs = await asyncio.gather(
        *(platform.adapter.send(Reply(platform.group, text)) for text in texts)
    )
    assert [text in platform.shown(ref).text for ref, text in zip(refs, texts, strict=True)] == [
        True
    ] * 4
    assert len({r.message_id for r in refs}) == 4
    assert platform.sends() == before + 4  # nothing twice


async def test_a_chat_the_bot_was_removed_from_fails_permanently(platform: Platform) -> None:
    gone = await platform.remove_bot()
    with pytest.raises(DeliveryError) as info:
        await platform.adapter.send(Reply(gone, "还在吗"))
    assert info.value.permanent and info.value.chat == gone


async def test_the_declared_send_budget_of_a_group_is_one_the_platform_honours(
    platform: Platform,
) -> None:
    """Optional part of the contract (``DeclaresSendBudget``), declared by every platform
    adapter from its own settings: the desk queue paces a desk chat by it and decides what
    goes into its next message. A burst of it, handed over at once, is all delivered."""
    assert isinstance(platform.adapter, DeclaresSendBudget)
    budget = platform.adapter.send_budget(platform.group)
    if budget is None:  # only Slack's harness runs unpaced (post_interval = 0)
        assert platform.name == "slack"
        return
    before = platform.sends()
    await asyncio.gather(
        *(platform.adapter.send(Reply(platform.group, f"第{i}条")) for i in range(budget.burst))
    )
    assert platform.sends() == before + budget.burst


async def test_a_released_send_tells_the_core_once_before_it_reaches_the_chat(
    platform: Platform,
) -> None:
    """Optional part of the contract (``ReleasesSends``): ``on_release`` is awaited once, when
    the message is about to leave (a split message included), never after it arrived; a hook
    that raises stops the send. A platform without it is one the core claims for earlier."""
    if not platform.can(Capability.RELEASE):
        assert not isinstance(platform.adapter, ReleasesSends)
        return
    assert isinstance(platform.adapter, ReleasesSends)
    before = platform.sends()
    seen: list[int] = []

    async def on_release() -> None:
        seen.append(platform.sends())

    long = "。".join(f"第{i}步：核对医保结算明细与总额" for i in range(400))  # Telegram: 3 parts
    ref = await platform.adapter.send_released(Reply(platform.group, long), on_release)
    assert seen == [before]  # once, and nothing of it had arrived yet
    after = platform.sends()
    assert after > before and ref.chat_id == platform.group.chat_id

    class Refused(Exception):
        pass

    async def refuse() -> None:
        raise Refused

    with pytest.raises(Refused):
        await platform.adapter.send_released(Reply(platform.group, "不应发出"), refuse)
    assert platform.sends() == after  # nothing went out
