"""The exact rules of the triage, and the guards it applies over the classifier.

Rules stay only where they are exact over every labelled message we have: a database-instance
error code, a message that only says a shared system is down (「HIS崩了！！！」) or that it is
down now for a group, 「又全挂了」, a group's failure told plainly (「门诊医生站集体闪退」), an
outage announced while it is mended, still down past the time promised, a restoration told
with nothing still wrong (「PDA已恢复」), planned work announced ahead (「明天8-10点全院断网维护」),
a forwarded-notice marker, a message with no words. Read by the triage only for a message
addressed to no one else: an outage told again or onward (「早上反馈的yb问题，到现在结算还是失败」,
「检验科：LIS目前无法审核发布，已报信息科」, 「…好多家长打电话来问」). The guards: a pasted error,
thanks and one more question, a failure still there after a fix, or a problem followed up
(「还没好」) is never left alone; a failure the sender says is theirs alone (「别人都正常」) is never
an outage; a report taken back or thanks with nothing more asked is chit-chat; a message of
links only is a notice.
Each rule's comment says what it was measured on (``eval/prereg/``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from intents.addressing import DEFAULT_BOT_NAMES, EVERYONE, replace_mentions
from intents.message_class import MessageClass
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
#: What the sender says they got wrong themselves (「是我输错了」, 「是我读卡器没插好」): read by the
#: retraction and by a report that corrects itself to its sender.
_OWN_SLIP = r"没插|输错|弄错|点错|搞错|没开|没连"
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
    rf"|是我(?:自己)?(?:的问题|看错|{_OWN_SLIP})))"
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
#: warning of fraud or malware with a don't, nothing asked and nothing down — a notice. Over
#: every labelled message we have it matches 86, all notices; the classifier passed two of the
#: blind sets' on as questions. A message that says systems are down (无法/打不开/瘫 …) or that
#: many machines are infected now (全院…中了勒索病毒) is left to the outage rules and the
#: classifier. Fourteenth session, study 8.
_ATTACK = re.compile(r"冒充|诈骗|钓鱼|勒索|木马|病毒|陌生(?:链接|电话|u盘)")
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
    unaddressed = _without_mentions(t, bot_names)
    if _says_a_shared_system_is_down(unaddressed):
        return MessageClass.OUTAGE, "a shared system reported down"
    if _down_now(unaddressed):
        return MessageClass.OUTAGE, "a shared system down now"
    if _RELAPSE.search(unaddressed) or _relapsed_after_a_fix(unaddressed):
        return MessageClass.OUTAGE, "down again, all of it"
    reading = _outage_by_its_reach(unaddressed)
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
_MAINTENANCE = re.compile(r"升级|维护|割接|迁移|停机|演练|切换")
_GROUP_SCOPE = re.compile(
    r"全院|全部|所有|各科|整个|多个科室|各病区|大面积|院区|各系统|均受影响"
    r"|各(?:诊区|楼层|科室|护理单元|收费处|诊室|病房)|门诊楼|住院楼|全楼|整栋"
)
_DOWN_WORD = re.compile(
    r"无法|(?<!能)不能|起不来|用不了|打不开|登不上|登录不了|进不去|卡死|瘫|中断|停了|挂了|崩|故障|停电"
    r"|不可用|运行异常"
)
_NOT_DOWN_NOW_AFTER_ALL = re.compile(
    r"(?<![未没])恢复(?!时间|后)|(?<![未没])修复|(?<![不无法能])正常|好了|将|计划|届时|预计.{0,6}(开始|进行)"
    r"|演练|如果|若|"
    r"一旦|"
    r"刚才(还)?说|结果发现|其实|上周|上个月|那期间|昨天.{0,6}停|是不是|吗[？?]?$"
)


#: 「明天8-10点全院断网维护」, 「今晚有个小维护，10点到10点半，LIS停一下」: planned work announced for
#: a day or a window ahead, with none of a user's words — 我, a question, 现在/已经/一直, after
#: (后, 完), 没通知/不是说, a failure told (打不开, 报错 …). The classifier passed such notices on
#: as questions when they had no 【通知】 (13 of the 974 it matches among the 41,750 labelled
#: texts of the eighteenth session; one, 「今晚机房断电检修，全院HIS…全部停止服务，23点开始」, it
#: paged). Its other matches are 13 people, 7 chit-chat and no question or outage; kiosks that
#: show 「系统维护中」 with no window announced, a failure after an upgrade and a window overrun —
#: outages told with the same words — all carry one of those user's words.
_DAY_AHEAD = (
    r"(?:明天|明早|明晚|明日|今晚|今夜|后天|下周|本周[一二三四五六日末]|周[一二三四五六日末]"
    r"|星期[一二三四五六日天]|\d{1,2}月\d{1,2}[日号])"
)
_WINDOW = r"\d{1,2}(?:[:：]\d{2}|点半?)?\s*[-~～至到]\s*\d{1,2}(?:[:：]\d{2}|点半?)"
#: the maintenance words of the down-now rule, and the other works a window is announced for
_PLANNED_WORK = rf"(?:{_MAINTENANCE.pattern}|检修|停用|停电|断网|更换|备份|巡检)"
_PLANNED = re.compile(
    rf"(?:{_DAY_AHEAD}|{_WINDOW})[^。？?]{{0,20}}?{_PLANNED_WORK}"
    rf"|{_PLANNED_WORK}[^。？?]{{0,12}}?(?:{_DAY_AHEAD}|{_WINDOW})"
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
_GROUP_OR_SHARED_SYSTEM = re.compile(
    _GROUP_SCOPE.pattern + r"|收费|窗口|his|lis|pacs|emr|医保|yb|sf|药房|检验科|影像科|护士站|全科"
)
#: the words that make a failure one machine's or one person's, shared by the outage readings
_ONE_OF_THEM = r"这台|那台|一台|就我|单个|个别"
_ONE_USERS = re.compile(rf"我(?!们)|{_ONE_OF_THEM}|账号|别人|其他人")


def _relapsed_after_a_fix(text: str) -> bool:
    return (
        _FIXED_THEN_DOWN_AGAIN.search(text) is not None
        and _GROUP_OR_SHARED_SYSTEM.search(text) is not None
        and _ONE_USERS.search(text) is None
    )


def _warns_of_an_attack(text: str) -> bool:
    return (
        _ATTACK.search(text) is not None
        and _DONT.search(text) is not None
        and _ASKED.search(text) is None
        and _DOWN_WORD.search(text) is None
        and not (_GROUP_SCOPE.search(text) and _INFECTED_NOW.search(text))
    )


def _down_now(text: str) -> bool:
    now = _NOW.search(text) is not None or (
        _STARTED_AT.search(text) is not None and _MAINTENANCE.search(text) is None
    )
    return (
        now
        and _GROUP_SCOPE.search(text) is not None
        and _DOWN_WORD.search(text) is not None
        and _NOT_DOWN_NOW_AFTER_ALL.search(text) is None
    )


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
    _GROUP_SCOPE.pattern
    + r"|集体(?=闪退|掉线|断|登不|卡|崩|宕|打不开|无法|进不去|用不了)|整层|整个楼层|病区到|好几个科"
    + r"|几个科室|多个窗口|[0-9一二三四五六七八九十]+(?:到|至|-)[0-9一二三四五六七八九十]+(?:楼|层)"
)
#: 「整个人都崩溃了」, 「整个病历夹」, 「所有店」: 整个/所有 that is no group of users
_NOT_A_SCOPE = re.compile(r"整个(?:人|病历|文件|页面)|所有店|网口")
_FAILING = re.compile(
    _DOWN_WORD.pattern
    + r"|报错|闪退|没法用|断网|掉线|连不上|回不来|还没恢复|未恢复|转圈|没有起来|宕机|暂不可用|无法访问"
)
#: as ``_ONE_USERS``, but 我方 is the vendor speaking for itself, and a bed or a patient is one
_ONE_USER = re.compile(rf"我(?!们|方)|{_ONE_OF_THEM}|本人|某个|\d+床|患者的")
_ASKS = re.compile(r"[?？]|吗|呢|是不是|会不会|能不能|怎么|多少|了没有?$")
#: told ahead, in the past, or explained: 「…期间可能短暂断网」, 「昨晚的全院断网是…导致」,
#: 「…已于10:40处理完毕」, 「刚刚断网是交换机掉电 现在网络全部回来了」
_NOT_UNDER_WAY = re.compile(
    rf"{_DAY_AHEAD}|{_WINDOW}|\d+号|期间|可能|预计|将|届时|提前|定于|知悉|下班前|必须|一律"
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
    rf"|{_DAY_AHEAD}(?!.{{0,20}}(?:失败|意外|误|故障|超时|未完成|仍|没))"
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
    _DOWN_WORD.pattern + r"|不能|不了|不通|断的|没恢复|没完|没好|停|进不去|不行|黑|哑|走不"
)


#: planned work with the time it starts or how long it lasts (「今天下午2点开始机房割接，全院网络中断约
#: 30分钟」) is announced, unless it went wrong (「…停电，来电后整栋住院楼网络还没恢复」)
_TIMED = re.compile(
    r"\d{1,2}(?:[:：]\d{2}|点)|约\s*(?:\d+|半|[一二三四五六七八九十两]+)\s*(?:个)?(?:分钟|小时)"
)
_WORK_WENT_WRONG = re.compile(r"失败|意外|误|故障|超时|还没|仍|没完|未完成|没有起来")
_PLANNED_WORK_WORD = re.compile(_PLANNED_WORK)


def _planned_work_timed(text: str) -> bool:
    return (
        _PLANNED_WORK_WORD.search(text) is not None
        and _TIMED.search(text) is not None
        and _WORK_WENT_WRONG.search(text) is None
    )


def _outage_by_its_reach(text: str) -> str | None:
    """Why the message is an outage by one of the three readings above, or None."""
    if (
        _WIDE_SCOPE.search(text)
        and _FAILING.search(text)
        and not _NOT_A_SCOPE.search(text)
        and not _planned_work_timed(text)
        and not _NOT_DOWN_NOW_AFTER_ALL.search(text)
        and not _ONE_USER.search(text)
        and not _ASKS.search(text)
        and not _NOT_UNDER_WAY.search(text)
        and not _ATTACK.search(text)
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
    _GROUP_OR_SHARED_SYSTEM.pattern
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
    rf"{_DAY_AHEAD}|昨天|前天|上周|上回|上次|那次|解决了|回来了|好了|恢复了|正常了|可以了|之前|当时"
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
    t = _unaddressed(text, bot_names)
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
    rf"|是我(?:自己)?[\u4e00-\u9fff]{{0,4}}(?:{_OWN_SLIP})"
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
    t = _unaddressed(text, bot_names)
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


def _without_mentions(cleaned: str, bot_names: Sequence[str]) -> str:
    """``cleaned`` (visible) text without its @mentions, @所有人 among them: 「@小助手 HIS崩了」,
    「@王工 HIS崩了」 and 「@所有人 HIS崩了」 read as the bare report."""
    return EVERYONE.sub(" ", replace_mentions(cleaned, bot_names, " ", " ")).strip()


@functools.lru_cache(maxsize=8)
def _called_at_start(bot_names: tuple[str, ...]) -> re.Pattern[str] | None:
    """The bot's names called at a message's start (「小助手 还没好」), compiled once per name list."""
    names = "|".join(re.escape(name) for name in sorted(bot_names, key=len, reverse=True))
    return re.compile(rf"^(?:{names})[\s,，:：]*", re.IGNORECASE) if names else None


def _unaddressed(text: str, bot_names: Sequence[str]) -> str:
    """``_without_mentions``, and without the bot's name called at its start (「小助手 还没好」
    reads as 「还没好」)."""
    t = _without_mentions(visible(text), bot_names)
    called = _called_at_start(tuple(bot_names))
    return called.sub("", t) if called is not None else t


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
