"""The pieces of group behaviour that need no chat: the short phrases, the gathering window
(driven by a test clock), the same-question overlap and the category guess."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from adapters.base import Attachment, ChatRef, IncomingMessage, Sender
from bot.conversation.duplicates import overlap
from bot.conversation.phrases import (
    asks_if_back,
    is_bare_follow_up,
    is_greeting,
    is_me_too,
    is_nudge,
    is_thanks,
)
from bot.conversation.pieces import Pieces
from bot.conversation.presence import Presence
from bot.conversation.settings import GroupSettings
from bot.tickets.category_guess import guess_category, likely_categories

T0 = dt.datetime(2026, 3, 2, 8, 0)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.mark.parametrize("text", ["在吗", "有人吗？？", "@小助手 在吗", "您好，请问", "老师在不在"])
def test_greetings(text: str) -> None:
    assert is_greeting(text) and not is_thanks(text) and not is_bare_follow_up(text)


@pytest.mark.parametrize("text", ["好的谢谢", "收到", "👍👍", "感谢", "好的 辛苦了", "OK 谢谢"])
def test_thanks(text: str) -> None:
    assert is_thanks(text) and not is_greeting(text)


@pytest.mark.parametrize(
    "text",
    ["在吗 收费处打印发票是空白的", "谢谢，还有个问题", "🤔", "还是报ORA-01653，收费员都登不上"],
)
def test_messages_with_content_are_none_of_them(text: str) -> None:
    assert not is_greeting(text) and not is_thanks(text) and not is_bare_follow_up(text)


@pytest.mark.parametrize("text", ["还是不行", "试了还是不行啊", "刚才那个还是不行", "没用"])
def test_bare_follow_ups(text: str) -> None:
    assert is_bare_follow_up(text)


def message(n: int, text: str = "", photo: bool = False, user: str = "u1") -> IncomingMessage:
    shots = (Attachment("photo", f"f{n}", f"shot{n}.png"),) if photo else ()
    return IncomingMessage(
        ChatRef("telegram", "-1"), str(n), Sender(user, "护士"), text, T0, attachments=shots
    )


def test_pieces_wait_for_the_text_and_join_within_the_window() -> None:
    clock = Clock()
    pieces = Pieces(20, clock)
    assert pieces.gather(message(1, "在吗"), "在吗") is None
    clock.now += dt.timedelta(seconds=10)
    assert pieces.gather(message(2, photo=True), "") is None
    assert pieces.gather(message(3, "别人的问题", user="u2"), "别人的问题") is not None
    clock.now += dt.timedelta(seconds=15)
    question = pieces.gather(message(4, "发票打印空白"), "发票打印空白")
    assert question is not None and [m.message_id for m in question.messages] == ["1", "2", "4"]
    assert question.text == "发票打印空白" and question.record == "发票打印空白\n[截图: shot2.png]"
    pieces.decided(question.messages[-1], 99)
    clock.now += dt.timedelta(seconds=19)
    assert pieces.follows_question(message(5, photo=True), "") == 99
    clock.now += dt.timedelta(seconds=2)
    assert pieces.follows_question(message(6, photo=True), "") is None  # window over


def test_a_piece_older_than_the_window_is_dropped_and_the_nudge_is_once_per_window() -> None:
    clock = Clock()
    pieces = Pieces(20, clock)
    assert pieces.gather(message(1, photo=True), "") is None
    clock.now += dt.timedelta(seconds=21)
    question = pieces.gather(message(2, "发票打印空白"), "发票打印空白")
    assert question is not None and question.record == "发票打印空白"
    assert pieces.may_nudge(message(3, "在吗")) and not pieces.may_nudge(message(4, "在吗"))
    clock.now += dt.timedelta(seconds=21)
    assert pieces.may_nudge(message(5, "在吗"))


def test_without_a_window_every_message_stands_alone() -> None:
    pieces = Pieces(0, Clock())
    question = pieces.gather(message(1, "在吗"), "在吗")
    assert question is not None and question.text == "在吗"


def test_an_engineer_is_talking_to_a_person_or_in_a_thread_for_the_minutes_set() -> None:
    clock = Clock()
    presence = Presence(10, clock)
    presence.engineer_spoke("telegram", "-1", "e01", thread="7", to_user="u1")
    assert presence.talking("telegram", "-1", "9", "u1") == "e01"  # answered this person
    assert presence.talking("telegram", "-1", "7", "u2") == "e01"  # in this thread
    assert presence.talking("telegram", "-1", "9", "u2") is None
    assert presence.talking("telegram", "-2", "7", "u1") is None  # another chat
    clock.now += dt.timedelta(minutes=11)
    assert presence.talking("telegram", "-1", "7", "u1") is None


def test_the_same_question_in_other_words_overlaps_and_another_does_not() -> None:
    same = GroupSettings().same_question_overlap
    assert overlap("医保结算还是报2304", "yb结算报2304，总额和明细对不上") >= same
    assert overlap("打印机卡纸了", "yb结算报2304，总额和明细对不上") < 0.2


def test_module_words_decide_the_category_and_a_question_naming_none_is_usage() -> None:
    # the nearest articles of an unanswered question are about something else: not used
    assert guess_category("yb结算报2304") == "insurance"
    assert guess_category("检验科标本条码扫不出来") == "lis"
    assert guess_category("CT检查登记后没有费用") == "pacs"
    assert guess_category("新来的护士怎么开通HIS账号") == "consult"
    assert guess_category("腕带打印出来是空白的") == "usage"  # the 腕带 → LIS case
    assert guess_category("登录HIS报错") == "usage"  # and its 登录 → PACS case
    # the one-tap choices: the words' categories, usage, the nearest articles', the catch-all
    assert likely_categories("医保卡读卡器新电脑装驱动", ["lis"], 4) == [
        "install",
        "insurance",
        "usage",
        "lis",
    ]
    assert likely_categories("界面有点卡", ["report"]) == ["usage", "report", "consult"]


def test_group_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="gather_seconds"):
        GroupSettings(gather_seconds=-1)
    with pytest.raises(ValueError, match="same_question_overlap"):
        GroupSettings(same_question_overlap=0)
    with pytest.raises(ValueError, match="same_problem_minutes"):
        GroupSettings(same_problem_minutes=-5)
    with pytest.raises(ValueError, match="same_problem_p1_reporters"):
        GroupSettings(same_problem_p1_reporters=1)  # one person is not several
    with pytest.raises(ValueError, match="outage_status_hours"):
        GroupSettings(outage_status_hours=-1)


@pytest.mark.parametrize(
    "text",
    [
        "同问",
        "+1",
        "同问+1",
        "我也是",
        "我也是啊",
        "@小助手 我们也是",
        "我们这边也是 登不上",
        "我这也一样，一直转圈",
        "我们窗口也是！",
        "我们病区也一样的",
        "+1 我这台也是",
        "我也遇到了",
        "一样",
        "骨科护士站也是这样",
        "一样的问题",
        "我这边也报一样的错",
        "楼上说的问题我们这也有",
        "一樣，我這台也卡住了",
        "「叫号系统没声音」 我们儿科候诊区也没声了",  # a WeCom quote first
        "我 这 边 也 是 登 不 上 去",  # typed a character at a time
        "妇产科门诊也开不了检查单 😓😓",
    ],
)
def test_me_too(text: str) -> None:
    assert is_me_too(text)


@pytest.mark.parametrize(
    "text",
    [
        "我这边也好了 谢谢",  # a recovery
        "我们也是刚好",
        "我这边也是，刚才也卡了一下，现在好了",
        "我们科也是这样 上周就出现过",  # the past
        "我这边也遇到过，是王工帮我改的，你找他",  # advice
        "我们科也申请了 不知道批没批",
        "我也是这么想的",  # the head runs on into a sentence of its own
        "我也是护士",
        "他也是",  # someone else
        "小李那边也一样",
        "你们那边也是这样吗？？",
        "我也遇到过，后来退出重登就好了",
        "我们也卡，不过卡的是LIS打条码",  # another problem
        "我也是夜班",
        "接种史里有两条一模一样的补录 怎么删掉一条",
        "不止我一个，三楼全部科室医生站都进不去",  # an outage report of its own
        "是不是大家都这样？我的pacs看片特别慢",  # asking whether it is everyone
        "我也不清楚诶，你问问护士长",
        "重启了也不行",
        "1",
        "新来的护士怎么开通HIS账号",
    ],
)
def test_not_me_too(text: str) -> None:
    assert not is_me_too(text)


@pytest.mark.parametrize(
    ("check", "text"),
    [
        (is_thanks, "好的謝謝"),
        (is_greeting, "在嗎？有人嗎"),
        (is_me_too, "我們這邊也是"),
        (is_bare_follow_up, "還是不行"),
    ],
)
def test_phrases_typed_in_traditional_characters(check: Callable[[str], bool], text: str) -> None:
    assert check(text)


@pytest.mark.parametrize(
    "text",
    [
        "怎么还没人回",
        "怎么还没人回？？？",
        "@小助手 怎么还没人回",
        "有人管吗",
        "有没有人管管",
        "工程师呢？急",
        "人呢？？？",  # a greeting too: a nudge only while something waits (the group decides)
        "还要等多久啊",
        "什么时候能好",
        "进度怎么样了",
        "有进展吗",
        "催一下，急",
        "都半小时了还没人来",
        "都20分钟了",
        "麻烦快点处理一下",
        "好了没啊😤",
        "顶一下",
        "问题报了一个小时了，没人理",
        "@小助手 刚才的问题呢",
        "能给个大概时间吗",
        "支援组的老师看到了回一下哈[抱拳]",  # a sticker written out
        "工单 HIS-0417 麻烦跟进一下",
        "？？？",
    ],
)
def test_nudges(text: str) -> None:
    assert is_nudge(text)


@pytest.mark.parametrize(
    "text",
    [
        "在吗",
        "有人吗",
        "好的谢谢",
        "还是不行",
        "等一下",
        "我等会儿再试试",
        "都半小时了还没人来，收费处全停了",  # something new said: decided
        "什么时候能好，门诊都排长队了",
        "怎么还没好，报错ORA-01017",
        "医保什么时候能结算",
        "这个进度条一直不动",
        "有人知道怎么导出报表吗",
        "催一下，现在住院那边也不行了",
        "危急值 护士站怎么确认",
        "外卖到了没啊",
        "撤回一下，能用了",
        "我晚点再试一次",
        "支付宝退款要多久到账 病人在问",
        "在吗",  # a greeting: it waits for its question
        "有人吗",
        "行，我先等着，不急",
    ],
)
def test_not_nudges(text: str) -> None:
    assert not is_nudge(text)


@pytest.mark.parametrize(
    "text",
    ["恢复了吗", "HIS好了没", "@小助手 什么时候能好", "还要多久啊", "系统恢复了没有？",
     "医保能用了吗", "几点能恢复", "好了吗好了吗"],
)  # fmt: skip
def test_asking_whether_it_is_back(text: str) -> None:
    assert asks_if_back(text)


@pytest.mark.parametrize(
    "text",
    ["恢复了吗？我这收费还是报错", "HIS恢复了，谢谢", "打印机好了", "门诊恢复了 住院还是登不上",
     "病人问退费多久能到账"],
)  # fmt: skip
def test_not_asking_whether_it_is_back(text: str) -> None:
    assert not asks_if_back(text)
