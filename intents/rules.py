"""The exact rules of the triage, and the guards it applies over the classifier.

Rules stay only where they are exact over every labelled message we have: a database-instance
error code, a message that only says a shared system is down (「HIS崩了！！！」) or that it is
down now for a group, 「又全挂了」, an outage read by its reach (``intents.outage_readings``:
「门诊医生站集体闪退」, an outage announced while it is mended, still down past the time
promised), a restoration told with nothing still wrong (「PDA已恢复」), planned work announced
ahead (「明天8-10点全院断网维护」), a forwarded-notice marker, a message with no words. The
guards: a pasted error, thanks and one more question, a failure still there after a fix, or a
problem followed up (「还没好」) is never left alone; a report taken back or thanks with nothing
more asked is chit-chat; a message of links only is a notice. The words these rules share with
the outage readings are in ``intents.vocabulary``.
Each rule's comment says what it was measured on (``eval/prereg/``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from intents.addressing import DEFAULT_BOT_NAMES, unaddressed, without_mentions
from intents.message_class import MessageClass
from intents.outage_readings import outage_by_its_reach
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

#: Instance-level database failures: the database itself is unavailable, not one user's SQL.
_DB_DOWN = re.compile(r"ora-0?(0257|3113|3114|1034|1089|27101|1033)(?!\d)")
#: A message that says a shared system is down (「HIS崩了！！！」, 「叫号屏全黑」, 「各位 收费系统宕机了
#: 快来人」, 「急！！！手术室要用血，血库系统宕机了」, 「急！！核素台账服务器宕机」): one of its clauses is
#: only the system and a word for down. Short reports like these are where every classifier we
#: trained slipped; never one user's problem, a question, or the past — a first person (「我电脑崩
#: 了」), a question mark or word, a past or recovery word, a single device, a hypothesis: the
#: classifier decides those. Matched on ``visible`` text (lower case, half-width punctuation)
#: without its @mentions.
_SHARED_SYSTEM = (
    r"his|emr|lis|pacs|ris|oa|yb|医保(?:系统)?|手麻(?:系统)?|叫号(?:系统|屏)?|收费(?:系统)?"
    r"|挂号系统|电子病历(?:系统)?|病历系统|(?:护理|检验|影像|药房|血库|体检|门诊|住院)系统"
    r"|服务器|数据库|系统|前置机|中间件|网关"
    # any other system by its name (物资系统, 核素台账服务器, 预约平台, 网报前置机): a name of up to
    # six characters before 系统 / 服务器 / 平台 / 数据库 / 前置机 (the server a hospital's
    # reports and insurance go through) / 中间件 / 网关 — unless it is one machine (``_ONE_MACHINE``)
    r"|(?P<name>[\u4e00-\u9fffa-z0-9]{1,6}?)(?:系统|服务器|平台|数据库|前置机|中间件|网关)"
)
#: 「电脑系统崩了」, 「工作站系统挂了」, 「3号机系统挂了」: one machine's system, not a shared one
#: (a first person or 这台 anywhere in the message already rules it out: ``_NOT_DOWN_NOW``).
_ONE_MACHINE = re.compile(
    r"电脑|手机|本机|单机|笔记本|工作站|主机|终端|平板|那台|一台|某台|几台|自己|个人|本地"
    r"|[0-9一二三四五六七八九十两]+号"
)
_DOWN = (
    r"(?:又|全|都|全部|整个)?"
    r"(?:崩了|挂了|宕机了?|宕了|瘫了|瘫痪了?|趴窝了|死了|崩溃了|全黑|黑屏了|挂掉了|崩掉了|停摆了)"
)
_DOWN_CLAUSE = re.compile(
    rf"^(?:各位|大家)?\s*(?:{_SHARED_SYSTEM})\s*{_DOWN}"
    rf"(?:{_DOWN}|[了啦啊呀~\s\U0001F300-\U0001FAFF]|急|快来人|快看看|救命)*$"
)
#: Clauses end at punctuation; a space ends one too (「急急急 LIS挂了」) or does not (「HIS 崩了」).
_PUNCTUATION = re.compile(r"[,，。.!！;；、]+")
_PUNCTUATION_OR_SPACE = re.compile(r"[,，。.!！;；、\s]+")
_NOT_DOWN_NOW = re.compile(
    r"[?？]|我|怎么|如何|为什么|吗|呢|啥|咋|会不会|是不是|昨天|前天|上周|刚才|之前|上次"
    r"|好了|恢复|修好|正常了|只有|就我|这台|个别|如果|万一"
)
#: A pasted error: an Oracle code, a module's code (SCH-409, S-21), 错误码 2304, a dialog's text
#: (「签名失败：证书已过期」, 「弹窗：无验收权限」), an exception's name, a hex status, HTTP 5xx.
#: Someone who pastes one wants it looked at: over every labelled message we have (17,367) none
#: with one is chit-chat, and the only notice is a forwarded one (「转发：…ICD-10…」, which the
#: forwarded-notice rule decides first), so the classifier's "leave it alone" never applies.
#: A code reported with 报 (「医保结算报2304」, 「处方保存报2214」) is one too: of the 56 labelled
#: texts with one (of 39,374, seventeenth session) none is quiet; 上报, 日报 and a call to 110 or
#: 120 are not codes.
_PASTED_ERROR = re.compile(
    r"(?<![a-z])[a-z]{1,6}-\d{2,6}(?!\d)|ora-?\d{4,5}"
    r"|(?:错误|报错|error|err|异常)\s*(?:码|代码|号|编号|code)?\s*[:：=]?\s*-?\d{3,}"
    r"|(?<![汇申上预填通简电年日月周季快])报\s*-?(?!(?:110|119|120|122)(?!\d))\d{3,}"
    r"|(?:弹窗|弹框|报错|错误|失败|异常|提示框)\s*[:：]"
    r"|[a-z]+exception\b|0x[0-9a-f]{6,}|sqlstate|http\s*[45]\d\d"
    # a bare negative status (「-2147467259」, 「错误 -1073741819」): the 10 labelled texts with one
    # (of 41,750, eighteenth session) are all questions; slang numbers (666, 8888) have no sign
    r"|(?<![\w.:\-])-\d{5,}(?!\d)",
    re.I,
)
#: A report taken back at the start: 「撤回一下，不是系统问题，是我没插网线😅」, 「忽略我上面那条，
#: 重启一下就好了」, 「刚才说打印机坏了，不用了，纸放反了」. Nothing after it may speak of a problem
#: or ask (「撤回一下，还是登不上」 goes on): over every labelled message we have (20,527) such a
#: start is chit-chat every time, and 10 of them the classifier passed on as questions.
_RETRACTION = re.compile(
    r"^(?:撤回(?:一下|哈|啊)?|忽略(?:我)?(?:上面|刚才|前面|刚刚)(?:那条|那个|的|说的)?"
    r"|(?:刚才|刚刚|上面|之前)(?:说|发|问|报|提)的?.{0,14}?"
    r"(?:不用了|不用看了|不用管了|没事了|撤回|已经好了|好了|解决了|没了)"
    # 「不好意思误报，是我账号输错了」, 「搞错了 不是系统问题 是我点错了」 (fourteenth session, study 7)
    r"|(?:不好意思|抱歉|sorry|对不起)?[,，。.\s!！~]*(?:误报|搞错了|看错了|弄错了"
    rf"|是我(?:自己)?(?:的问题|看错|{OWN_SLIP})))"
)
_STILL_A_PROBLEM = re.compile(
    r"但|可是|不过|还是|又|仍然|依然|现在|不行|不能|不了|报错|打不开|进不去|登不上|失败|怎么|吗"
    r"|？|\?|呢|没好|没恢复|什么|原因|咋|为啥"
)
#: Thanks at the start, with nothing after it that speaks of a problem or asks for more:
#: 「谢谢小助手帮我找到了退费入口」, 「感谢信息科，打印机好了」. Over every labelled message we have
#: (24,105) such a message is chit-chat 158 times and talk between people once; 「感谢！另外体温单
#: 的曲线不显示了」 and 「感谢张工…另外汇报下，今天早上全院CA签名都签不上」 go on.
_THANKS = re.compile(r"^(?:谢谢|感谢|多谢|谢啦|谢了|thx|thanks|thank you)", re.I)
_ASKS_MORE = re.compile(
    _STILL_A_PROBLEM.pattern
    + r"|另外|还有|再问|问一下|想问|问下|情况|汇报|全部|所有|一个事|一件事|请|麻烦|顺便|对了"
    + r"|帮(?:我|忙)?(?:看|查|弄|处理|问|改|开|装|修)"
)
_FORWARDED = re.compile(r"^\s*(【(转发|通知|公告|转)】|转发[:：]|\[转发\]|fwd?[:：])")
#: 「警惕！有人冒充厂商工程师打电话要密码，一律不要给」, 「近期勒索病毒活跃，请勿插私人U盘」: a
#: warning of fraud or malware (``ATTACK``) with a don't, nothing asked and nothing down — a
#: notice. Over every labelled message we have it matches 86, all notices; the classifier passed
#: two of the blind sets' on as questions. A message that says systems are down (无法/打不开/瘫 …)
#: or that many machines are infected now (全院…中了勒索病毒) is left to the outage rules and the
#: classifier. Fourteenth session, study 8.
_DONT = re.compile(r"不要|勿|切勿|一律|谨防|警惕|务必|千万别|禁止")
_ASKED = re.compile(r"[？?吗]|怎么|咋|是不是|要不要|什么")
_INFECTED_NOW = re.compile(r"中了|中毒了|感染了|被加密|爆发")
_MEDIA = re.compile(r"^\[(图片|表情|动画表情|语音|视频|文件|链接|位置|名片|image|photo|sticker)\]$")


def exact_rule(
    text: str, bot_names: Sequence[str] = DEFAULT_BOT_NAMES
) -> tuple[MessageClass, str] | None:
    """The few cases a rule gets right every time (``bot_names``: the mentions of the bot)."""
    t = visible(text).strip()
    if not any(ch.isalnum() for ch in t):
        return MessageClass.CHITCHAT, "no words (emoji or punctuation only)"
    if _MEDIA.match(t):
        return MessageClass.CHITCHAT, "media placeholder"
    if _FORWARDED.search(t):
        return MessageClass.NOTICE, "forwarded notice"
    if _warns_of_an_attack(t):
        return MessageClass.NOTICE, "a security warning"
    if tells_a_restoration(t):
        # 「感谢信息科，打印机好了」 is thanks: chit-chat, left alone all the same
        thanked = _THANKED.search(t) is not None
        return (MessageClass.CHITCHAT if thanked else MessageClass.NOTICE), RESTORED_REASON
    db = _DB_DOWN.search(t)
    if db:
        return MessageClass.OUTAGE, f"database unavailable ({db.group(0)})"
    # mentions are who it is told to, not what it says: 「@小助手 HIS崩了」, 「@王工 HIS崩了」 and
    # 「@所有人 HIS崩了」 page like the bare report (a clear outage told to a person still pages:
    # ``MessageTriage``)
    bare = without_mentions(t, bot_names)
    if _says_a_shared_system_is_down(bare):
        return MessageClass.OUTAGE, "a shared system reported down"
    if _down_now(bare):
        return MessageClass.OUTAGE, "a shared system down now"
    if _RELAPSE.search(bare) or _relapsed_after_a_fix(bare):
        return MessageClass.OUTAGE, "down again, all of it"
    reading = outage_by_its_reach(bare)
    if reading:
        return MessageClass.OUTAGE, reading
    if announces_planned_work(t):
        return MessageClass.NOTICE, "planned work announced"
    return None


#: 「现在全院HIS无法登录」: now, a group scope and a way of being down — and not a restoration
#: (「目前全院网络正常」), a plan (「届时…」), a self-correction (「刚才说全部登不上，其实…」), the
#: past (「上周五全院HIS停了两个小时」) or a question whether it is so. Even in the IT department's
#: own words (「昨晚的升级出了问题，现在全院HIS无法登录，厂商正在回滚」) it is an outage to page.
#: 未恢复/没修复 is no restoration (mended in the eighteenth session: over every labelled text it
#: moved two outages, 「…部分楼层未恢复供电」 and 「…全院HIS无法登录，目前仍未恢复」, and nothing else).
_NOW = re.compile(r"现在|目前|当前|此刻|自\d{1,2}[:：]\d{2}起|从\d{1,2}[:：]\d{2}(开始|起)")
#: 「今日10:30起…故障」, 「自8点05分起」: a clock time a failure started at today — but 「今日22:00起
#: 升级」 is a window announced, so a time only counts as "now" without a maintenance word.
_STARTED_AT = re.compile(
    r"(?:今日|今天|今早|今晨|早上|上午|中午|下午)\s*\d{1,2}(?:[:：]\d{2}|点(?:\d{1,2}分?|半)?)\s*(?:起|开始)"
    r"|自\d{1,2}点\d{0,2}分?起|从\d{1,2}点\d{0,2}分?(?:起|开始)"
)


#: 「明天8-10点全院断网维护」, 「今晚有个小维护，10点到10点半，LIS停一下」: planned work announced for
#: a day or a window ahead, with none of a user's words — 我, a question, 现在/已经/一直, after
#: (后, 完), 没通知/不是说, a failure told (打不开, 报错 …). The classifier passed such notices on
#: as questions when they had no 【通知】 (13 of the 974 it matches among the 41,750 labelled
#: texts of the eighteenth session; one, 「今晚机房断电检修，全院HIS…全部停止服务，23点开始」, it
#: paged). Its other matches are 13 people, 7 chit-chat and no question or outage; kiosks that
#: show 「系统维护中」 with no window announced, a failure after an upgrade and a window overrun —
#: outages told with the same words — all carry one of those user's words.
_PLANNED = re.compile(
    rf"(?:{DAY_AHEAD}|{WINDOW})[^。？?]{{0,20}}?{PLANNED_WORK}"
    rf"|{PLANNED_WORK}[^。？?]{{0,12}}?(?:{DAY_AHEAD}|{WINDOW})"
)
_NOT_AN_ANNOUNCEMENT = re.compile(
    r"我|怎么|咋|吗|？|\?|还没|还是|不是说|说是|过了|超时|为什么|为啥|啥|几点|能不能|是否|有没有"
    r"|吧|呢|急|！！|快来|后|完|没通知|可是|但是|现在|已经|一直|谁|要不要|会不会|大家好|请问"
    r"|打不开|进不去|登不上|提交不了|报错|失败|瘫|挂了|崩"
)


def announces_planned_work(text: str) -> bool:
    """Does the message announce planned work for a day or a window ahead, and nothing else?"""
    return _PLANNED.search(text) is not None and _NOT_AN_ANNOUNCEMENT.search(text) is None


#: 「刚恢复又全挂了😭」, 「谢谢刚才处理，不过LIS现在又全挂了」: down again, all of it. Over every
#: labelled message we had (26,408) it matches 12, all outages; the classifier read the short
#: ones as chit-chat (a thanks or a restoration word, and little else). Study 4.
_RELAPSE = re.compile(
    r"又(?:全|都|全部|全都)(?:挂了|崩了|不行了|断了|宕了|瘫了|登不上|打不开|用不了|进不去|连不上|卡死)"
)

#: 「谢谢张工，刚才好了，不过现在又不行了，收费又连不上了」: a fix or thanks for one, then down
#: again — for a group or a shared system, not one user's (「…换了个账号登录又不行了」,
#: 「为啥我的打印机刚好了又不行了」). Fourteenth session, study 3.
_FIXED_THEN_DOWN_AGAIN = re.compile(
    r"(?:谢|辛苦|好了|恢复|修好|正常了|能用了)[^又]{0,30}又(?:开始)?(?:不行|连不上|转圈|卡|挂|断|登不上"
    r"|打不开|进不去|报错|掉线|不能|出不来|用不了|瘫|[打传扫刷登]不[出上了进])"
)
_ONE_USERS = re.compile(rf"我(?!们)|{ONE_OF_THEM}|账号|别人|其他人")


def _relapsed_after_a_fix(text: str) -> bool:
    return (
        _FIXED_THEN_DOWN_AGAIN.search(text) is not None
        and GROUP_OR_SHARED_SYSTEM.search(text) is not None
        and _ONE_USERS.search(text) is None
    )


def _warns_of_an_attack(text: str) -> bool:
    return (
        ATTACK.search(text) is not None
        and _DONT.search(text) is not None
        and _ASKED.search(text) is None
        and DOWN_WORD.search(text) is None
        and not (GROUP_SCOPE.search(text) and _INFECTED_NOW.search(text))
    )


def _down_now(text: str) -> bool:
    now = _NOW.search(text) is not None or (
        _STARTED_AT.search(text) is not None and MAINTENANCE.search(text) is None
    )
    return (
        now
        and GROUP_SCOPE.search(text) is not None
        and DOWN_WORD.search(text) is not None
        and NOT_DOWN_NOW_AFTER_ALL.search(text) is None
    )


def carries_an_error(text: str) -> bool:
    """Does the message carry a pasted error (``ORA-01017``, 「错误码：2304」)? Never chit-chat."""
    return _PASTED_ERROR.search(visible(text)) is not None


#: 「谢谢！还有 报告咋签字」, 「辛苦了～再问下PDA咋充电」: thanks or an acknowledgement, then one more
#: question marked as such (还有, 再问, 另外, 顺便, 对了 … and a question word). The classifier
#: reads the opening and leaves such messages alone as thanks (p_quiet 0.84–0.89). Over every
#: labelled text (40,297, seventeenth session) the pattern matches 16, all questions; 「哈喽 还有人在
#: 跟吗」 (is anyone still on it: a nudge) is not it, nor 「还有别的事吗」 (an offer, not a question).
_ACK_OPENING = re.compile(
    r"^(?:谢谢|感谢|多谢|谢啦|谢了|辛苦了?|哈喽|你好|您好|好的|收到|明白|ok)[!！~～，,。\s\W]*",
    re.I,
)
_ONE_MORE_QUESTION = re.compile(
    r"(?:还有(?!人|别的事|其他事|事)|再问|另外|顺便|对了)[^。！!]{0,16}?(?:咋|怎么|如何|哪|能不能|可不可以|吗|？|\?)"
)


def asks_one_more(text: str) -> bool:
    """Does the message thank or acknowledge, then ask one more question? Never left alone."""
    return _more_after_opening(text, _ACK_OPENING, _ONE_MORE_QUESTION) is True


#: 「好的，可是还报错」, 「刚才说好了，又卡死了」, 「嗯嗯 重启了还是不行」: after an acknowledgement or
#: a fix told, the failure is still there or back (还是/又/依然 … and a failure word), and no
#: word after it says it is over. The classifier reads the opening as thanks or a restoration
#: (p_quiet 0.73-0.99). Over every labelled text (41,750, eighteenth session) it matches 306:
#: 211 questions and 93 outages as labelled, 2 people (each called by name, which the triage
#: reads first) and no chit-chat or notice; 「如仍有问题请联系」 (a condition), 「又能弹了」 and
#: 「我还以为又挂了」 are not it. Judged blind as study 2 of the eighteenth session's prereg file;
#: 已重启/重启过, 老样子, 不好 and 「问题还在」 were added after, read off its judges' misses.
_STILL_FAILING = re.compile(
    r"(?<![如若果万])(?:还是|依然|仍然|依旧|照样|照旧|又(?!能|可以)|还(?!以为|好))"
    r"[^，,。！!？?\s]{0,4}?"
    r"(?:报错|出错|不行|卡|打不开|进不去|登不上|登不进|黑屏|蓝屏|死机|转圈|失败|灰|没反应|不灵"
    r"|出不来|不出|不了|挂了|崩|掉线|不能|没用|闪退|乱码|错误|提示|弹|显示不|不显示|没好|没变|一样|显示未"
    r"|老样子|不好(?!意思))"
    r"|问题(?:还|仍|依然|依旧)在"
)
_ACKNOWLEDGED = re.compile(
    r"^(?:好的|好嘞|好|谢谢|感谢|多谢|谢了|收到|嗯嗯?|哦哦?|ok|明白|了解|行)(?![了吗])", re.I
)
_FIX_TOLD = re.compile(
    r"好了|可以了|正常了|恢复了|能用了|修好|弄好|重启|重装|试了|试过|照做|按你说的|照你说的|换了"
)
_IF_STILL = re.compile(
    r"(?:如|若|如果|要是|假如|万一|是否|是不是|会不会|有没有)[^，,。]{0,6}(?:还|仍|又)"
)
_OVER_AFTER = re.compile(r"好了|正常|恢复|可以了|没事了|解决|能用了|搞定")


def still_failing(text: str) -> bool:
    """Is a failure told as still there or back after an acknowledgement or a fix? Never
    left alone."""
    t = visible(text).strip()
    still = _STILL_FAILING.search(t)
    if still is None or _IF_STILL.search(t):
        return False
    after_a_fix = _ACKNOWLEDGED.match(t) or _FIX_TOLD.search(t, 0, still.start())
    return after_a_fix is not None and _OVER_AFTER.search(t, still.end()) is None


#: 「还没好」, 「刚才那个问题还在」, 「？还没人回我」, 「我的那个工单转给厂家了吗」, 「上午报的那个还没好」:
#: a problem followed up — still there, nobody on it, or a report asked after. The classifier
#: reads the bare ones as chit-chat or talk between people (p_quiet 0.78–1.00). Twentieth
#: session, study 1 (``eval/dev-onward``: 7 of its 90 questions were left alone, all such).
#: Its nobody-on-it words overlap the conversation's nudges (``bot/conversation/phrases.py``
#: ``is_nudge``), which go under the ticket the sender waits on or the open outage before the
#: triage is reached; this guard decides what reaches it, and keeps its own judged list.
_FOLLOWS_UP = re.compile(
    r"^[？?\s]*(?:还|依然|依旧|仍然?)(?:是)?没(?:好|修好|解决|恢复|弄好|反应)|问题(?:还|仍|依然|依旧)在"
    r"|^(?:还是|依旧|依然)(?:不行|一样|老样子|那样)"
    r"|(?:报|说|反映|提)(?:过)?的(?:那个|问题|事)?[^，,。]{0,6}?(?:还|仍|依然|依旧)(?:是)?(?:没|不行|在)"
    r"|(?:还|都)?没(?:有)?人(?:回|理|管|来|处理|看)|有人(?:来)?(?:修|管|看|处理|跟|接)(?:吗|没|了吗)"
    r"|(?:的事|问题|故障)(?:是)?谁在(?:弄|处理|跟|管)"
    r"|(?:工单|报修|报的).{0,8}(?:了吗|了没|没有|怎么样|进度|到哪)"
    r"|^(?:没用|不管用|没效果)|(?:方法|办法)(?:没用|不管用|没效果)"
    # study 2: 「依旧」, 「没好」, 「？？还没好」, 「谁在跟我那个CA的问题」, 「…我跟张工说过了，他今天来不来」
    r"|^[？?。.!！\s]*(?:依旧|依然|照旧|没好|还没好|还是没好)[？?。.!！\s]*$"
    r"|谁在跟(?:进|我(?:那|这)个|(?:这|那)个)|(?:单子|问题|的事|故障)谁在跟"
    r"|说过了[^。]{0,8}?(?:来不来|什么时候来|几点来|还来吗)"
)
#: a condition (「如果问题还在…」), a problem let go (「不用管了」, 「好了 谢谢」) or a joke
_LETS_IT_GO = re.compile(
    r"如果|若|如有|不用|忽略|撤回|算了|好了|解决了|恢复了|可以了|正常了|没事了|谢|哈哈|😂|开玩笑"
)


def follows_up_a_problem(text: str, bot_names: Sequence[str] = DEFAULT_BOT_NAMES) -> bool:
    """Is the message a follow-up of a problem still there or left unanswered? Never left
    alone."""
    t = unaddressed(text, bot_names)
    return _FOLLOWS_UP.search(t) is not None and _LETS_IT_GO.search(t) is None


def takes_back_a_report(text: str) -> bool:
    """Does the message take back an earlier report, and ask nothing more (「撤回一下，是我没插网线」)?"""
    return _more_after_opening(text, _RETRACTION, _STILL_A_PROBLEM) is False


def only_thanks(text: str) -> bool:
    """Does the message thank someone and ask nothing more (「谢谢小助手帮我找到了退费入口」)?"""
    return _more_after_opening(text, _THANKS, _ASKS_MORE) is False


#: A web address as people paste it (a scheme, or www.); a bare host or IP with a path, such
#: as 192.168.1.20:8080/his, is part of a question and is not one.
_LINK = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
_NOT_WORDS = re.compile(r"[\W_]+")


def only_links(text: str) -> bool:
    """Is the message web addresses and nothing else (a shared article or notice: nothing
    asked)? 「http://192.168.1.20/his 打不开了」 says what is wrong and is a question."""
    t = visible(text)
    rest = _LINK.sub("", t)
    return rest != t and not _NOT_WORDS.sub("", rest)


#: 「PDA已恢复，全院病区可以正常扫码了」, 「CA恢复 签名没问题了」, 「消毒供应追溯系统可以用了」, 「网好了」:
#: a restoration told, with nothing still wrong, nothing asked, no plan and no wish — news that
#: a problem is gone, never a question to escalate nor an outage to page (the classifier took
#: such notices for questions, and paged some). Over every labelled message we have (37,905
#: distinct texts, sixteenth session) ``tells_a_restoration`` matches 1,684: 486 chit-chat, 1,147
#: notices, 29 closing words, 20 talk between people (each addressed to a person, which the
#: triage reads first) and 2 questions (「刚才HIS卡了一下 现在好了 应该没事吧」, 「病人拿着两张票回来
#: 了」); no outage. The sixteenth session's blind sets had found six more questions matched (「功能
#: 用不了了」, 「…一直说没注册」, 「要不要报备一下」 …): the cues below now read them. Any sign that something is still down or asked (「门诊恢复了，住院还不行」, 「恢复了吗」,
#: 「说是已修复，但我这边还是打不开」), a wish (「要是…就好了」), a plan or what to do once it is
#: back (「系统好了再补录」), or 恢复 asked about (「能不能恢复」) leaves it to the classifier.
#: Thirteenth session, studies 1, 3, 5, 6, 7; fourteenth, studies 1 and 2 (eval/prereg/).
_RESTORED = re.compile(
    r"已(?:经)?(?:恢复|修复|解决|修好|处理好|排除|回滚|改好|接好|上线|打通|正常)"
    r"|(?<![未没待等前能以否])恢复(?!时间|后|中|的|期间|不|到)"
    # 「又能扫了」, not 「功能用不了了」 nor 「超过能报的钱了」 (sixteenth session)
    r"|(?<![不没就只才可])(?:可以|能)(?:正常)?(?:(?![不没的])[\u4e00-\u9fff]){1,4}了"
    r"|(?:都|已经|全|也)好了|(?:正常|没问题|上线)了|(?<!不)(?:亮|通)了(?=$|[，,。！!\s~])"
    r"|(?:系统|网络?|电脑|his|lis|pacs|emr|ca|yb|hrp|oa|vpn|医保|收费|挂号|影像|打印机?|工作站"
    r"|内网|外网)好了|ok了"
)
_STILL_DOWN_OR_ASKED = re.compile(
    r"但|可是|不过|还是|还不|还没|又|仍|依然|依旧|不行|不能|不了|报错|打不开|进不去|登不上|失败"
    r"|怎么|吗|？|\?|呢|没好|没恢复|什么|咋|为啥|没有|未恢复|看看|帮|无法|没反应|(?<![读医保诊掏磁])卡(?![号片])|转圈"
    r"|黑屏|白屏|闪退|不上|不出|不到|挂了|崩|宕|中断|异常|慢|提示|没收到|空的|不让|拒"
    # a window or an outage still being worked on, a wish, what to do once it is back
    r"|预计|估计|尽快|争取|正在|抢修|排查|将|届时|计划|待定|就好了|要是|如果|再|等|以后|之后"
    r"|多少|哪|几|啥|[没不]$|了没|是不是|只有|就我|我的|我这|演练|在处理"
    # partly back: 「自助机恢复了一半，还有一半显示"服务暂停"」
    r"|一半|部分|剩下|剩余|暂停|排长队"
    # still so after the cue: 「刷卡机连上网了，屏幕一直说没注册」 (sixteenth session)
    r"|一直(?!正常|都?好|在线|没问题|稳定)|(?<![让叫他])停了|要不要"
)


#: What a restoration ends on, besides ``_RESTORED``: 「现在全部正常」, 「已处理完」, 「网都回来了」,
#: 「PDA重新连上了」, 「又能扫了」, 「报个平安」, 「服务器都起来了」.
_BACK = re.compile(
    _RESTORED.pattern
    + r"|(?:现在|目前)(?:全部|都|均|一切|已经|已)?(?:正常|好了|恢复|可以了|打得开|能用|在线)"
    r"|已(?:经)?(?:处理完|换好|插紧|还原|改回去?|拉起来|重启完成)"
    r"|(?<![退送拿带打])回来了|(?<!没)(?:重新)?(?:连上|联机|上线)了"
    r"|又(?:能|可以)[\u4e00-\u9fff]{1,4}了|报个平安"
    # 「服务器都起来了」, 「数据都传过来了」, 「机房来电了」 (study 7) — not people arriving:
    # 「信息科的人已经上来了」, 「工程师已经上来了」 (mended in the twentieth session)
    r"|(?<![人师他她])(?:都|全部|已经|已)(?:起来|传过来|回传|上来|出来|补传|推送|同步)了|来电了"
    # fourteenth session, study 1: 「问题已处理」, 「全部PDA已经在线」, 「现在开方秒出了」
    r"|(?:回去|重启|接上|插上)就?好了|问题已(?:经)?(?:处理|解决|修正|排除)|(?:重启|升级|处理|修复)完成"
    r"|已(?:经)?(?:全部)?(?:重新)?(?:在线|联网|归档|上传成功|补发|补传|同步(?:完整|完成|完毕)?)"
    r"|都成功了|全部成功|(?:联|连)上网了|(?:都|全部|已经|已)过来了"
    r"|(?:大家|都|现|现在|已|已经)(?:可以|能|可)正常[\u4e00-\u9fff]{1,4}(?=$|[,.;!~\s])"
    r"|(?:现在|目前|测过了|试了)[^,.;!?]{0,8}?(?:正常|秒开|秒出了?|秒到|很?流畅|没问题了?|是好的|一致了)"
    # fourteenth session, study 2: 「PDA都重新连上wifi了」, 「重启完毕」, 「已切回主库」, 「告警都消了」
    r"|(?:都|全部|全|已|已经|重新|从新|又)[^,.;!?不没未请要需]{0,8}?(?<![不没未])"
    r"(?:连上|联上|登上|对上|接上|联机|连回|通讯上了)"
    r"|(?:都|全部|全|已|已经|重新)(?:上线|在线)|(?:都|全|已经|已)通了|重新显示了"
    r"|(?:重启|补传|回传|上传|重建|扩容|切换|同步|对账|清理|导入|摆药|推送)(?:完毕|完成了?|完了)"
    r"|(?:已|刚|已经)?切回(?:主|市电)|告警(?:都|全)?消|报警已消除"
    r"|运行正常|照常[\u4e00-\u9fff]{1,2}(?=$|[,.;!~\s])|正常(?:办理|录入|查看)(?=$|[,.;!~\s])"
)
#: Before a restoration's last cue, what says it is not over, not for everyone, or not news:
#: 「别的都连上了」 (one user's problem), 「说好的六点前恢复」, 「我这…」, a question. The failure
#: itself may be told there (「VPN这两天连不上是防火墙策略被误删，已恢复策略…」: study 6).
_NOT_OVER_BEFORE = re.compile(
    r"还是|还不|还没|仍|依然|依旧|没好|没恢复|未恢复|我(?!们)|只有|就我|吗|？|\?|怎么|但|可是|(?<!永)不过(?!期)"
    r"|又(?!能|可以)|预计|估计|正在|抢修|排查中|将|届时|计划|如果|要是|是不是|什么时候|(?<!回去|重启|接上|插上)就好了"
    r"|多少|哪|几点|啥|了没|演练|(?<!被)别的|其他|别人|前面的|往常|就这一个|一个病人|这台|咋|为啥"
    r"|为什么|如何|投诉|说好的|能不能|能否|可不可以|可否|为空"
)
#: A fix told after its cause ends a restoration too: 「…原因是接口账号密码到期自动失效，已重置并设为
#: 永不过期」, 「OA登不上是因为单点登录服务器内存泄漏，重启了」 (fourteenth session, study 1). Without
#: a cause a fix is what a user already tried (「已经重启两次了」): no cue.
_CAUSE = re.compile(
    r"原因|是因为|因为|所致|导致|查了是|查到是|查下来是|其实是|问题是|的问题[,:;]是"
    r"|是[^,.;!?]{1,24}?(?:的问题|挂了|掉了|过期|冲突|满了|丢了|占满|失效|死机|松了|跳了|失败|维护)"
)
_FIX = re.compile(
    r"已(?:经)?(?:全部|手[工动])?(?:重启|重置|替换|更换|换|改|修正|修改|迁移|清理|补|跑完|推送|同步|联网|把"
    r"|拉起|插|紧|续|还原|重新|做了|放开|限制|调|加|设|装|回滚|编译|分配|释放|扩|恢复|处理)"
    r"|(?:换|改|修|插|接|装|续|紧|重启|拉起|起|放开)(?:好|上|完|回去|开)?了"
)
#: After a restoration's last cue, what retells the failure (「之前提交失败的申请单」, 「刚才签不上的
#: 病历」) or tells what to redo or not to worry about (「请重新提交」, 「刷新一下页面就行」, 「不会再
#: 出现」, 「不用再让患者掏卡了」) is no sign that anything is still wrong; a question never is.
_RETOLD_OR_ADVICE = re.compile(
    r"(?:之前|刚才|刚刚|前面|早上|上午|下午|昨天|昨晚|今早|那会儿?|期间)[^，,。；;！!？?吗呢]{0,20}?的"
    r"|[^，,。；;！!？?吗呢]{0,12}?(?:失败|卡住|不上去?|不出来?|不了|没发出去|报错)的"
    r"|(?:请|麻烦|大家|各位)?[^，,。；;！!？?吗呢再等谁]{0,12}?(?<![再等])(?:重新|刷新|补开|补签|补录|补打"
    r"|重开|重登)[^，,。；;！!？?吗呢谁]{0,16}"
    r"|不会再[^，,。；;！!？?吗呢]{0,12}|不用再?[^，,。；;！!？?吗呢]{0,12}|不受影响|没(?:有)?受影响"
    r"|没(?:有)?丢|没有差|没有重复收|(?:试|测)过?了(?:几[笔次个下单张]|一下)"
)
#: A pasted error box (「报错"未将对象引用设置到对象的实例"」) is not the speaker's words.
_QUOTED = re.compile(r'"[^"]{1,80}"|“[^”]{1,80}”|「[^」]{1,80}」|\'[^\']{1,80}\'')
RESTORED_REASON = "a restoration told, nothing still wrong or asked"
_THANKED = re.compile(r"谢|辛苦|感恩|thx|thanks|thank you", re.I)


def tells_a_restoration(text: str) -> bool:
    """Does the message only tell that something works again (「HIS已恢复正常」)? A notice."""
    t = visible(text)
    if _RESTORED.search(t) is not None and _STILL_DOWN_OR_ASKED.search(t) is None:
        return True
    # 「刚才东院区断网是汇聚交换机掉电了，已经换了电源模块，现在全部正常」: the failure told in the
    # past, then the restoration, and nothing after it
    t = _QUOTED.sub(lambda quoted: " " * len(quoted.group()), t)
    cues = list(_BACK.finditer(t))
    cause = _CAUSE.search(t)
    if cause is not None:
        cues += _FIX.finditer(t, cause.end())
    if not cues:
        return False
    last = max(cues, key=lambda cue: cue.end())
    after = _RETOLD_OR_ADVICE.sub("", t[last.end() :])
    return (
        _STILL_DOWN_OR_ASKED.search(after) is None
        and _NOT_OVER_BEFORE.search(t, 0, last.start()) is None
    )


def _more_after_opening(text: str, opening: re.Pattern[str], more: re.Pattern[str]) -> bool | None:
    """None if the message does not start with ``opening``; else whether ``more`` follows it."""
    t = visible(text).strip()
    start = opening.match(t)
    return None if start is None else more.search(t, start.end()) is not None


def _says_a_shared_system_is_down(text: str) -> bool:
    if _NOT_DOWN_NOW.search(text):
        return False
    clauses = [*_PUNCTUATION.split(text), *_PUNCTUATION_OR_SPACE.split(text)]
    for clause in clauses:
        m = _DOWN_CLAUSE.match(clause.strip())
        if m and not (m.group("name") and _ONE_MACHINE.search(m.group("name"))):
            return True
    return False
