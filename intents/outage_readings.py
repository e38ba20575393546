"""Outages the classifier lets through, read by what is told of them: their reach, a report
told again or onward — and whose failure it is (「别人都正常」: one user's, never an outage).

Readings, not exact rules: each was fitted on labelled texts and judged on blind sets written
for it (``eval/prereg/``). ``outage_by_its_reach`` is read among the exact rules
(``intents.rules.exact_rule``) and pages whoever the message is told to;
``outage_told_again_or_onward`` is read by the triage only for a message addressed to no one
else. Both only ever page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from intents.addressing import DEFAULT_BOT_NAMES, unaddressed
from intents.vocabulary import (
    ATTACK,
    DAY_AHEAD,
    DOWN_WORD,
    GROUP_OR_SHARED_SYSTEM,
    GROUP_SCOPE,
    MAINTENANCE,
    NOT_DOWN_NOW_AFTER_ALL,
    ONE_OF_THEM,
    OWN_SLIP,
    PLANNED_WORK,
    WINDOW,
)
from kb_index.text import visible

# -- outages read by their reach (nineteenth session, study 2) ---------------------------------
#: Three readings of an outage the classifier let through as a question or a notice (249 of the
#: 9,504 outages among the labelled texts, nineteenth session), each a failure of more than one
#: user's, now or still:
#: - a group's failure told plainly, without 现在 (「门诊医生站集体闪退」, 「门诊楼二层到五层网络中断」),
#:   but not ahead (planned work told with its start or length), past, one user's, a question,
#:   a warning or an explanation;
#: - an outage announced while it is being worked on (「…全院EMR仍处于瘫痪状态，工程师正在抢修」,
#:   「目前门诊HIS系统无法登录，原因正在排查，请各窗口先启用应急预案」): the IT department's or the
#:   vendor's words, which the classifier took for a notice of planned work — unless someone
#:   else's platform is down (省医保平台, 电信, a forwarded notice: nothing for the vendor to mend)
#:   or one user's;
#: - a restoration promised for a time that has passed, and still down (「说好的十点恢复，现在十点
#:   半了还是登不上HIS」, 「通知说维护到2点，现在3点了，急诊还是开不了单」, 「厂家说半小时 一个半小时了」).
#: Over the 43,776 labelled texts then read, they move 81 outages, 4 outage notices labelled
#: notice (「【故障通报】…PACS存储异常…信息科正在抢修」) and 1 question to outage; on the KB sets
#: as messages they page 1 more question. Judged blind on three sets: errors 42 -> 36 of 1,000.
#: Widened after, read off those judges' misses (我方, 正在重启服务, 缓慢, 上回/上次, …了没,
#: promises without a clock time): no other labelled text moved. ``eval/prereg/2026-12-07-
#: nineteenth-session.txt``.
_WIDE_SCOPE = re.compile(
    GROUP_SCOPE.pattern
    + r"|集体(?=闪退|掉线|断|登不|卡|崩|宕|打不开|无法|进不去|用不了)|整层|整个楼层|病区到|好几个科"
    + r"|几个科室|多个窗口|[0-9一二三四五六七八九十]+(?:到|至|-)[0-9一二三四五六七八九十]+(?:楼|层)"
)
#: 「整个人都崩溃了」, 「整个病历夹」, 「所有店」: 整个/所有 that is no group of users
_NOT_A_SCOPE = re.compile(r"整个(?:人|病历|文件|页面)|所有店|网口")
_FAILING = re.compile(
    DOWN_WORD.pattern
    + r"|报错|闪退|没法用|断网|掉线|连不上|回不来|还没恢复|未恢复|转圈|没有起来|宕机|暂不可用|无法访问"
)
#: as ``_ONE_USERS``, but 我方 is the vendor speaking for itself, and a bed or a patient is one
_ONE_USER = re.compile(rf"我(?!们|方)|{ONE_OF_THEM}|本人|某个|\d+床|患者的")
_ASKS = re.compile(r"[?？]|吗|呢|是不是|会不会|能不能|怎么|多少|了没有?$")
#: told ahead, in the past, or explained: 「…期间可能短暂断网」, 「昨晚的全院断网是…导致」,
#: 「…已于10:40处理完毕」, 「刚刚断网是交换机掉电 现在网络全部回来了」
_NOT_UNDER_WAY = re.compile(
    rf"{DAY_AHEAD}|{WINDOW}|\d+号|期间|可能|预计|将|届时|提前|定于|知悉|下班前|必须|一律"
    r"|原因是|系(?!统)|不受影响|另行通知|解决了|现已|已重新|已解|已经在线|导致|回来了|那会儿|之前"
    r"|昨天|前天|昨晚|上周|上回|上次|那次|本月|上月|那几个|共发生|累计|不用再"
    r"|已.{0,8}(?:完毕|排除|完成|补发|补传|补录|上传)"
    r"|已经(?!持续|有|[0-9一二三四五六七八九十半两])"
)
#: the work on an outage under way: 正在抢修, 原因排查中, 恢复时间待定, 工程师已到场 …
_BEING_MENDED = re.compile(
    r"正在(?:紧急|逐台|手动|强制|重新|全力)?(?:抢修|处理|排查|恢复|回滚|回退|回切|修复|终止|清理"
    r"|重建|重启服务|更换|部署|停止|查|改|启动|熔接|与厂家)"
    r"|原因(?:正在)?(?:排查中|在查|待查)|恢复时间(?:待定|待通知|另行通知)"
    r"|恢复后(?:将|会)?(?:在群内)?(?:另行)?通知|工程师(?:已到场|在处理|正在)|处理中|抢修中|修复中|回滚中"
)
_FAILING_AS_ANNOUNCED = re.compile(
    _FAILING.pattern
    + r"|没法|仍未|不可用|无法|失败|超时|卡顿|缓慢|停用|暂停|只读|锁定|异常|掉电|跳闸|错乱|空白|蓝屏|丢失"
)
#: an outage announced is over (已恢复正常, 已于…, 稳定运行) or is planned work ahead — unless the
#: work went wrong (「今晚切换失败，…接口中断」)
_OVER_OR_AHEAD = re.compile(
    r"已(?:经)?(?:恢复正常|全部恢复|处理完毕|排除|修复|解决)|恢复正常了|已于|现已|稳定运行"
    rf"|{DAY_AHEAD}(?!.{{0,20}}(?:失败|意外|误|故障|超时|未完成|仍|没))"
)
#: someone else's platform down, or a forwarded word of it: nothing for the vendor to mend
_SOMEONE_ELSES = re.compile(
    r"省|(?<![城超])市(?!场)|医保中心|医保局|卫健委|电信|移动公司|联通|运营商|平台方|上级|光缆|转自|转发"
)
_PROMISED_BY = re.compile(
    r"(?:说好|说|承诺|通知|公告)[^，,。]{0,8}?(?:\d{1,2}|[一二三四五六七八九十两]{1,3})(?:点|[:：])"
    r"[^，,。]{0,8}?(?:恢复|结束|修好|好|完成)"
    # 「承诺的中午前修好」, 「昨天说今天早上修好的」, 「厂家说半小时」
    r"|(?:说好|说|承诺)的?[^，,。]{0,8}?(?:中午|上午|下午|早上|晚上)[^，,。]{0,4}?(?:恢复|修好|好|结束)"
    r"|(?:说好|说|承诺)的?(?:半|[一二三四五六七八九十两\d]+个?半?)(?:小时|分钟)"
    r"|维护到\d{1,2}点|\d{1,2}点结束"
)
_PAST_IT = re.compile(
    r"现在|都(?:\d{1,2}|[一二三四五六七八九十]{1,3})点|已经\d|超过|超时|过了|这都|到现在"
    r"|都(?:中午|下午|晚上)|[一二三四五六七八九十两\d]+个?半?小时了"
)
_STILL = re.compile(r"还是|还|仍|依然|依旧")
_NOT_WORKING = re.compile(
    DOWN_WORD.pattern + r"|不能|不了|不通|断的|没恢复|没完|没好|停|进不去|不行|黑|哑|走不"
)


#: planned work with the time it starts or how long it lasts (「今天下午2点开始机房割接，全院网络中断约
#: 30分钟」) is announced, unless it went wrong (「…停电，来电后整栋住院楼网络还没恢复」)
_TIMED = re.compile(
    r"\d{1,2}(?:[:：]\d{2}|点)|约\s*(?:\d+|半|[一二三四五六七八九十两]+)\s*(?:个)?(?:分钟|小时)"
)
_WORK_WENT_WRONG = re.compile(r"失败|意外|误|故障|超时|还没|仍|没完|未完成|没有起来")
_PLANNED_WORK_WORD = re.compile(PLANNED_WORK)


def _planned_work_timed(text: str) -> bool:
    return (
        _PLANNED_WORK_WORD.search(text) is not None
        and _TIMED.search(text) is not None
        and _WORK_WENT_WRONG.search(text) is None
    )


def outage_by_its_reach(text: str) -> str | None:
    """Why the message is an outage by one of the three readings above, or None."""
    if (
        _WIDE_SCOPE.search(text)
        and _FAILING.search(text)
        and not _NOT_A_SCOPE.search(text)
        and not _planned_work_timed(text)
        and not NOT_DOWN_NOW_AFTER_ALL.search(text)
        and not _ONE_USER.search(text)
        and not _ASKS.search(text)
        and not _NOT_UNDER_WAY.search(text)
        and not ATTACK.search(text)
    ):
        return "a group's failure told"
    if (
        _BEING_MENDED.search(text)
        and _FAILING_AS_ANNOUNCED.search(text)
        and not _OVER_OR_AHEAD.search(text)
        and not _ONE_USER.search(text)
        and not _SOMEONE_ELSES.search(text)
    ):
        return "an outage being mended"
    if (
        _PROMISED_BY.search(text)
        and _PAST_IT.search(text)
        and _STILL.search(text)
        and _NOT_WORKING.search(text)
        and not _ONE_USER.search(text)
    ):
        return "still down after the time promised"
    return None


# -- problems told again or onward (twentieth session, study 1) --------------------------------
#: Three readings of an outage the classifier passes on as one user's question, read only for a
#: message addressed to no one else (``MessageTriage``): told to a colleague, it is their talk.
#: - still down since it was reported: 「早上反馈的yb问题，到现在结算还是失败」, 「兩個鐘頭了，叫號屏
#:   還黑著」 — a report or a stretch of time behind it, still failing, a shared system or place;
#: - told onward: 「放射科PACS挂了，信息科已经知道了在处理」 — a department's shared system down, and
#:   the IT department or the vendor told or at work on it;
#: - felt by many: 「小程序预约一直转圈，家属电话打爆了」, 「微信公众号缴费失败 好多家长打电话来问」 —
#:   a failure, and crowds or callers growing (a queue at one desk, 「后面排了一堆人」, is not it).
#: None of them reads one user's words, a bed, a numbered desk or a question. Fitted on
#: ``eval/dev-onward`` and every labelled text read before (see the prereg file); judged on
#: ``eval/heldout-onward`` and ``-2`` (errors 69 -> 54 of 600). Widened from those judges'
#: misses (study 2: a failure said to have started earlier, a follow-up's opening, work carried on
#: by hand, queues that grow, phones that do not stop, 报给信息科; 医嘱 dropped), judged on
#: ``eval/heldout-onward-3`` and ``-4`` (errors 58 -> 52 of 600). A third widening from those
#: judges' misses failed its own (``-5``, ``-6``: 69 -> 68) and was withdrawn: each writer tells
#: these in words the lists have not met. ``eval/prereg/2026-12-07-twentieth-session.txt``.
_BROKEN = re.compile(
    _FAILING_AS_ANNOUNCED.pattern
    + "|"
    + _NOT_WORKING.pattern
    + r"|[^\s，,。]不(?:了|出|上|进|到|通|响|亮)|转圈|黑了|黑着|挂着|没声|不叫号|断断续续|罢工"
    # study 2: no reaction, not through yet, work carried on by hand (「还在手工登记」)
    + r"|没反应|没通|没修|问题还在|(?:还|仍)(?:在|是)?(?:手工|手写|纸质)"
)
_SHARED_THING = re.compile(
    GROUP_OR_SHARED_SYSTEM.pattern
    + r"|病区|各组|叫号|挂号机|小程序|公众号|预约|网络|[0-9一二三四五六七八九十]楼|分诊|条码|候诊"
    + r"|ca签名|drg|dip|自助机|发药|采血|护理记录"
    # study 2 (医嘱 dropped: one order is one user's)
    + r"|挂号|结算|系统|接口|app|联网|手麻|体检|门诊|急诊|病房|窗口"
)
#: one user's, one desk's, one patient's: 「3号自助机」, 「2诊室」, 「这张发票」, 「有个病人」
_ONE_OF_MANY = re.compile(
    _ONE_USER.pattern
    + r"|\d+号(?!楼)|[0-9一二三四五六七八九十]+诊室|这张|那张|(?:这|那|有)个(?:病人|患者)|一个病人"
)
_REPORTED_EARLIER = re.compile(
    r"(?:早上|上午|中午|下午|傍晚|晚上|昨天|昨晚|前天|刚才|刚刚|之前|前面|一早|今早|\d+点"
    r"|[0-9一二两三四五六七八九十半]+个?(?:小时|钟头)前)"
    r"[^，,。]{0,6}?就?(?:报|说|反馈|反映|提|讲)(?:过|了|上去)?(?:的|了)"
    # study 2: a failure that started earlier (「昨天下午断的分院网络」), the morning's problem
    # named again (「早上那个手麻系统的问题还在」, 「上午的发票问题还没解决」)
    r"|(?:早上|上午|中午|下午|傍晚|晚上|昨天|昨晚|凌晨|一早|今早)[^，,。]{0,4}?"
    r"(?:断|挂|坏|停|卡|开始)的"
    r"|(?:早上|上午|中午|下午|傍晚|昨天|昨晚|凌晨|一早|今早|刚才)(?:的|那个)[^，,。]{0,12}?问题"
    # a follow-up's opening: 「还没好，疫苗门诊还在手工登记」, 「还在等 护理系统还是白屏」
    r"|^(?:还没(?:好|恢复|修好|解决)|还在等|依旧|依然|到底什么时候|怎么还)"
)
_FOR_A_WHILE = re.compile(
    r"从.{1,6}到现在|(?:\d+|[一二两三四五六七八九十几半]+)个?多?(?:钟头|小时)了"
    r"|昨晚.{0,12}(?:白班|今天|现在)|到现在"
)
_STILL_OR_NOT_YET = re.compile(_STILL.pattern + r"|没好")
_IT_DEPARTMENT = r"(?:信息科|信息中心|网络中心|资讯科|厂家|厂商|工程师|it|运维|信息部)"
_TOLD_ONWARD = re.compile(
    rf"已(?:经)?(?:报|通知|告诉|联系|打电话给|找|电话|报告|上报|报修|反馈给?"
    rf"|给{_IT_DEPARTMENT}(?:说|打电话|打了电话|报))(?:了)?{_IT_DEPARTMENT}"
    rf"|已(?:经)?给{_IT_DEPARTMENT}(?:说|打电话|打了电话|报)"
    rf"|(?:报|通知|告诉|联系)(?:了|过){_IT_DEPARTMENT}|(?:报|反馈|反映)给(?:了)?{_IT_DEPARTMENT}"
    rf"|{_IT_DEPARTMENT}说[^，,。]{{0,10}}?(?:在处理|在修|在查|在看)"
    rf"|{_IT_DEPARTMENT}(?:的人|那边)?(?:已经|已)?(?:在|正在)(?:看|查|处理|弄|来|过来|赶来|路上|修)"
    rf"|{_IT_DEPARTMENT}(?:已经|已)(?:知道|派人|在|到)"
)
#: over, ahead, or a guess: not an outage to page now
_NOT_NOW = re.compile(
    rf"{DAY_AHEAD}|昨天|前天|上周|上回|上次|那次|解决了|回来了|好了|恢复了|正常了|可以了|之前|当时"
    r"|期间|可能|将|届时"
)
#: told to someone who is to act: 「…已经报信息科了 你们先打电话通知吧」
_TELLS_SOMEONE_TO_ACT = re.compile(r"你们先|你先|您先")
_CROWDS_OR_CALLERS = re.compile(
    r"越(?:堆|来|排|积)越多|挤满|堆满|电话(?:都)?(?:被)?打爆|(?:电话|咨询)一个接一个|电话响个不停"
    r"|一直(?:有人)?(?:来|打电话)问|家属(?:都)?(?:还)?在打电话"
    # study 2: queues that grow, phones that do not stop
    r"|越排越长|排成长龙|排了一排|排起来了|人挤人|挤在窗口|电话(?:还是)?(?:一直)?(?:响|不停)"
    r"|(?:好多|很多)(?:病人|家长|患者)(?:又)?(?:退回|回到)窗口"
    r"|(?:好多|很多|不少|一堆|大批|几十个|上百个?)(?:家长|病人|患者|人|家属|孕妇)(?:都)?(?:在)?"
    r"(?:打电话|来电|来问|在问|投诉|说没|反映)"
)


def outage_told_again_or_onward(
    text: str, bot_names: Sequence[str] = DEFAULT_BOT_NAMES
) -> str | None:
    """Why the message is an outage told again, told onward or felt by many, or None. Read only
    when the message is addressed to no one else."""
    t = unaddressed(text, bot_names)
    if (
        _ONE_OF_MANY.search(t)
        or _ASKS.search(t)
        or not _BROKEN.search(t)
        or says_others_are_fine(t)
    ):
        return None
    if (
        (_REPORTED_EARLIER.search(t) or _FOR_A_WHILE.search(t))
        and _STILL_OR_NOT_YET.search(t)
        and _SHARED_THING.search(t)
        and not _NOT_A_SCOPE.search(t)
    ):
        return "still down since it was reported"
    if (
        _TOLD_ONWARD.search(t)
        and (_WIDE_SCOPE.search(t) or _SHARED_THING.search(t))
        and not _NOT_NOW.search(t)
        and not _TELLS_SOMEONE_TO_ACT.search(t)
        and not _SOMEONE_ELSES.search(t)
        and not _OVER_OR_AHEAD.search(t)
    ):
        return "told onward to the IT department"
    if _CROWDS_OR_CALLERS.search(t) and not _NOT_UNDER_WAY.search(t):
        return "felt by many"
    return None


#: 「别人都正常」, 「别的医生没事」, 「只有我登不上」, 「换台电脑就进去了」, 「其他床都在」: the message
#: itself says the failure is one person's, one PC's or one patient's. Over every labelled
#: message we have (18,167), 152 say so and none is an outage (「晚上就我一个」 — alone on shift —
#: is not this, nor 「其他科室都正常」: a whole department is an outage), so the classifier's outage
#: never applies to them; they go on as questions.
_FINE = r"(?:好|正常|可以|能|没事|没问题)"
_OTHERS_ARE_FINE = re.compile(
    rf"(?:别人|同事|其他(?:床|人|同事|医生|护士))(?:的)?(?:电脑)?都{_FINE}"
    rf"|(?:别的|其他)(?:医生|护士|人|同事|电脑|病人|窗口|工作站|收费员|大夫)(?:的)?(?:电脑)?都?{_FINE}"
    r"|只有我(?:这台|这里|这边|这个账号|一个人)?(?:登不上|打不开|进不去|不行|报错|用不了)"
    r"|其他床都在|换(?:一)?(?:台|个)电脑就"
)


def says_others_are_fine(text: str) -> bool:
    """Does the message say others are unaffected (「别人都正常」), or correct itself to one user
    (「…好吧只有我，密码输错了」)? Then it is not an outage."""
    t = visible(text)
    return _OTHERS_ARE_FINE.search(t) is not None or _corrects_itself_to_one_user(t)


#: 「LIS登不上了大家是不是都这样……好吧只有我，密码输错了」, 「全院医保都不能用了？哦，是我读卡器没插
#: 好」: a report that narrows itself to its sender — unless it is denied (「不是我一个人」), was only
#: the first guess (「本来以为只有我，结果…」) or widens again after (「…现在整个儿科都登不上了」).
#: Fourteenth session, studies 10 and 11.
_SELF_CORRECTION = re.compile(
    r"(?:好吧|哦|噢|原来|搞半天)[,，。.…\s]*(?:只有我|就我|是我)(?!们)"
    r"|(?<![不以为])(?:只有我|是我一个人)(?!们)"
    rf"|是我(?:自己)?[\u4e00-\u9fff]{{0,4}}(?:{OWN_SLIP})"
    # 「刚问了同事，她们能开，那就是我的问题」 (study 11)
    r"|(?:那|那就|看来|应该|估计)就?是我(?:自己)?(?:的|这台|电脑|这边)的?问题"
    r"|(?:同事|她们|他们|别人)都?(?:能|可以)(?:开|用|登|进|打开|登上|登录)"
)
_NOT_THE_SENDER_AFTER_ALL = re.compile(r"不是|以为|本来|刚才|先|开始")
_WIDER_AGAIN = re.compile(r"现在|结果|但|可是|整个|全部|所有|都|全")


def _corrects_itself_to_one_user(text: str) -> bool:
    for said in _SELF_CORRECTION.finditer(text):
        if _NOT_THE_SENDER_AFTER_ALL.search(text, max(0, said.start() - 8), said.start()):
            continue
        if _WIDER_AGAIN.search(text, said.end()) is None:
            return True
    return False


# -- what the scope head must not page (twenty-first session, study 3) -------------------------
#: The classifier's scope head reads failure words, not tense or negation: on the read sets it
#: paged windows announced (「下午三点机房演练，会断网」), incidents told as over or explained
#: (「…原因是机房空调故障导致服务器过热自动关机，空调已维修」) and calm days (「…系统也没卡，难得」) —
#: lines the triage passed on as questions before it. Such a message still goes on as a question;
#: never when anything says the failure is still there or being mended (还是, 又, 没恢复, 目前,
#: 正在 …: 「今晚升级出了问题，HIS数据库起不来…正在抢修」, 「机房停电，目前HIS、LIS、PACS均不可用，预计
#: 半小时内恢复」 page). ``eval/prereg/2026-12-08-twenty-first-session.txt``.
_AHEAD_OR_PLANNED = re.compile(
    rf"{DAY_AHEAD}|{WINDOW}|{MAINTENANCE.pattern}|届时|期间|预计|定于|将(?!近)|调试|扩容|演练"
    r"|下个月|从明天|另行通知|知悉|请(?:各|大家|不要)|属正常"
)
_OVER_OR_EXPLAINED = re.compile(
    r"原因是|是因为|导致|所致|已排除|已经?(?:恢复|修复|解决|处理好|处理完|切回|重新)|解决了|处理完"
    r"|都正常|正常了|回来了|能用了|都能|跑通|恢复了|重新联网|那会儿|昨天|昨晚|刚才|刚刚"
)
_DENIED = re.compile(r"(?:没|不)(?:卡|崩|挂|断|掉线|出问题)(?!了吗)|难得|哈哈|😂")
_STILL_DOWN = re.compile(
    r"还是|还不|还没|又(?!能)|仍|依然|依旧|没恢复|未恢复|起不来|不行|不能|但|可是|抢修|超过|卡着|断的"
    r"|出了问题|目前|正在|在查|回退|闪退|手写|维护中"
)


def not_down_now(text: str) -> bool:
    """Does the message tell planned work, an incident over or explained, or a failure denied —
    and nothing still down? Then the scope head does not page it."""
    t = visible(text)
    if _STILL_DOWN.search(t):
        return False
    return any(p.search(t) for p in (_AHEAD_OR_PLANNED, _OVER_OR_EXPLAINED, _DENIED))


# -- a how-to is never a page (twenty-second session, study 5) ---------------------------------
#: The scope head reads a system named with 都/所有 as a group's failure, whatever is asked of
#: it: 「所有的门诊病历都能查到吗，还是只能查近三年的」 was paged. A question of how to do something
#: or whether the system can is one user's question: 怎么/如何 or 在哪 with a task, 能不能/可不可以
#: with a task, 能…查到/看到…吗. A failure told or asked after is not it (怎么还/又…, 能用了吗,
#: 什么时候能好, 能不能快点修好, 「打印发票没反应，怎么弄」). Over every read labelled text it stops one of
#: the head's pages, that how-to, and no outage. ``eval/prereg/2026-12-08-twenty-second-session.txt``.
_TASK = (
    r"(?:设置|查询?|改|修改|操作|办理|导出|导入|打印|录入|申请|添加|新增|删除|撤销|退|开通|配置|调整"
    r"|使用|下载|上传|绑定|解绑|切换|登记|预约|补打|补录|开具?|看到|调出)"
)
_HOW_OR_WHETHER_IT_CAN = re.compile(
    rf"(?:怎么|如何|怎样|咋)(?![^，,。？?]{{0,2}}?(?:还|又|老|一直|都不|也不|总))[^，,。？?]{{0,8}}?{_TASK}"
    rf"|在哪(?:里|儿)?(?:能|可以)?{_TASK}"
    rf"|(?:能不能|可不可以|能否|是否可以|可以不可以)[^，,。？?]{{0,6}}?{_TASK}"
    rf"|(?:能|可以)(?:查|看|调|导|打印)(?:到|出)?[^，,。？?了]{{0,12}}?吗"
)
_A_FAILURE_TOLD_OR_ASKED_AFTER = re.compile(
    r"修好|恢复|好了吗|能用了|什么时候能|多久能|还要多久|快点|尽快|赶紧|有人(?:在)?(?:处理|管|修|看)"
    r"|没反应|报错|失败|卡|不出|不了|不上|不进|黑屏|闪退|转圈|异常|错误"
)


def asks_how_or_whether_it_can(text: str) -> bool:
    """Does the message ask how to do something, or whether the system can — and tell no
    failure and ask after no mend? Then the scope head does not page it."""
    t = visible(text)
    if _A_FAILURE_TOLD_OR_ASKED_AFTER.search(t):
        return False
    return _HOW_OR_WHETHER_IT_CAN.search(t) is not None
