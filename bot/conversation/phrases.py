"""The few short messages whose meaning does not depend on the KB: greetings that open a
question (「在吗」), thanks that close one (「好的谢谢」), a bare 「还是不行」, 「我们这边也是」
(someone else has the problem just reported) and 「怎么还没人回」 (a reporter waiting).

Greetings, thanks and 「还是不行」 are matched on the whole message (mentions of the bot and
punctuation removed), so a greeting *with* a question after it is a question, and 「谢谢，还有个
问题…」 is not thanks. A nudge is a waiting cue with nothing left once a nudge's usual words are
taken out; a me-too is a same-as marker near the start, not after someone else, and none of the
things that make it something else (a recovery, advice, another problem …). Both were judged on
blind sets (README, "Measured figures"); they act only in context (``bot.conversation.group``).
Everything is read in simplified characters.
"""

from __future__ import annotations

import re

from bot import texts
from kb_index.text import simplified

_NOISE = re.compile(r"@\S+|[\s\W_]+", re.UNICODE)

_GREETING = re.compile(
    r"(您好|你好|hi|hello|哈喽|在吗|在不在|在么|在嘛|在不|有人吗|有人在吗|有没有人|人呢|"
    r"老师|工程师|小助手|客服|请问|打扰一下|打扰了|麻烦|你们?|啊|呀|呢|嗎|吗|么|哦|嗯|请|问下|一下)+"
)
_THANKS = re.compile(
    r"(好的|好滴|好嘞|好|收到|谢谢|多谢|感谢|谢了|谢啦|辛苦了?|ok|okay|嗯|嗯嗯|明白|了解|知道了|"
    r"没问题|可以了|行|了|啦|呀|哈|老师|你|您|大家)+",
    re.IGNORECASE,
)
_THANKS_EMOJI = re.compile("[👍🙏👌💪🌹😊❤🤝]")
#: What a bare follow-up may have besides its 「还是不行」: particles and words like 刚才那个.
_FOLLOW_UP_FILLER = re.compile(
    r"(刚才|刚刚|那个|这个|问题|的|了|啊|呀|我|我们|这边|试了|弄了|按你说的|照着做|还|都|也|吗|呢)+"
)


def _core(text: str) -> str:
    return _NOISE.sub("", simplified(text)).lower()


def is_greeting(text: str) -> bool:
    """「在吗」「有人吗」「您好，请问」: an opener with nothing asked yet."""
    core = _core(text)
    return bool(core) and _GREETING.fullmatch(core) is not None


def is_thanks(text: str) -> bool:
    """「好的谢谢」「收到」「👍」: a closing that wants no answer."""
    core = _core(_THANKS_EMOJI.sub("好", text))
    return bool(core) and _THANKS.fullmatch(core) is not None


def is_bare_follow_up(text: str) -> bool:
    """「还是不行」「试了还是不行啊」: says the earlier help did not work, and nothing else
    (a 「还是报ORA-01653，收费员都登不上」 is a message of its own and is decided as one)."""
    if not texts.says_unsolved(text):
        return False
    rest = texts.UNSOLVED_PHRASE.sub("", _core(text))
    return len(_FOLLOW_UP_FILLER.sub("", rest)) <= 2


#: What says the sender has the problem someone else just reported: 「同问」「+1」「我们这边也是」
#: 「一样的问题」「楼上说的我们这也有」「妇产科+1」「我这边也报一样的错」「药房也是，处方传不过来」.
_ME_TOO = re.compile(
    r"同问|同求|同上|同楼上|^同[，,\s]|同样(?=打不|登不|进不|不|没|卡|报|是|的)|(?<![0-9a-zA-Z\-])\+\d+(?![\d周天])|^加一$|me too|同款|"
    r"也是(?=$|[\s,，。.!！?？~～…、;；:：+]|这|一样|同样|啊|呀|哎|诶|哈|的|了|呢|哦|我|跟|[^\w]|"
    r"[登打进连卡报转闪读刷看用出])|也(repro|复现)|也一样|也这样|"
    # a symptom told with 也 only after the sender or a place: 「药房也打不了」, not 「重启了也不行」
    r"(这边|这里|这儿|那边|我这|我们|咱们|俺们|我|[科站房处室区部台楼院诊所]|窗口|电脑|中心)也"
    r"([\u4e00-\u9fff]{0,3}不(了|行|出|上|开|进|动)|卡|报|提示|打不|登不|进不|出现|碰上|碰到了|遇到了|"
    r"有这个|[一没]?[\u4e00-\u9fff]{0,2}(不|没)[\u4e00-\u9fff]|一直|卡在|黑屏|转圈|返回|闪退|有$|"
    r"有[，,\s])|^(我|我们)?也(碰到了|遇到了|出现了)|"
    r"一样的?(问题|情况|错|提示|毛病)|同样的?(问题|情况|错|提示)|同一个?(问题|情况)|"
    r"^一模一样|一模一样$|一毛一样|一样一样|^一样|(这边|这里|这儿|也)一样的?(?=$|[\s,，。!！])|"
    r"都这样$|都一样$|大家都这样|(?<!是)不是只有我|"
    r"跟(楼上|你们|他们|大家|上面|刚才|前面|那位|.{1,6}说的)(说的)?(一样|同一个情况|一个情况)|"
    r"楼上.{0,8}(也有|也是|一样)",
    re.IGNORECASE,
)
#: Before the marker, a person other than the sender (「小李那边也一样」「他也这样」), or hearsay
#: (「听说急诊那边也是」): their talk, not the sender's problem.
_SOMEONE_ELSE = re.compile(
    r"他|她|你|同事|主任|姐|哥|老师|医生(?!站)|护士长|隔壁|听说|据说|好像|跟我说|^小[\u4e00-\u9fff]|"
    r"的小|"
    r"^老[\u4e00-\u9fff]|^[王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁"
    r"潘蒋蔡杜叶苏魏吕丁沈姚卢姜崔钟谭陆汪范石廖贾夏韦付邹孟熊秦邱江尹薛闫段雷侯龙陶黎贺顾毛郝龚邵"
    r"覃戴莫孔][\u4e00-\u9fff]?(工|医生|护士|老师)"
)
#: Anywhere in it, what makes it something else: a recovery (「我这边也好了」), the past or
#: advice (「我们上周也出过，找王工」), an opinion (「我也觉得该升级了」), another problem
#: (「我们也卡，不过卡的是LIS打条码」).
_NOT_ME_TOO = re.compile(
    r"好了|好啦|好的|才好|恢复|刚好|可以了|能用了|正常了|没事了|解决了|能[^，。,.\s]{1,4}了|已经可以|"
    r"每次|总是|老是|遇到过|碰到过|出现过|出过|有过|这样过|以前|之前|上次|上周|上礼拜|上个月|去年|"
    r"[一二三四五六七八九十]+月份|昨天|前天|试试|就好|就行|找(他|她|王工|信息科|供应商)|"
    r"想|觉得|认为|赞成|支持|同意|意见|应该|该|确实|"
    r"(^|[，,。\s])(不过|但是?|而是)|我这是|我们是|我是|报个问题|有个问题|不一样|现在(连|又)|"
    r"还没人|还没好|通了|别人也|不清楚|不知道|不确定|不记得|"
    r"饿|吃|食堂|外卖|快递|年假|报名|培训|而且|另外|现在[^还]{0,8}也|"
    # a question whether it is everyone (「是不是大家都这样？」), or a group-scope outage of its
    # own (「HIS登陆不上去了，全院都这样」): the classifier's to decide
    r"是不是|还是大家|全院|整个|全部|所有"
)
#: Right after the marker, not a problem at all: 「我也是夜班」「同 我也休年假」「同问 明天食堂开不开」.
_NOT_A_PROBLEM = re.compile(
    r"^\W*(我也)?\W*(要|想)?(明天|今天|下周|周[一二三四五六日天])?(夜班|白班|值班|下班|上班|交班|"
    r"报到|护士|医生|新来|刚来|休|体检|部的|科的|三楼)"
)


def is_me_too(text: str) -> bool:
    """「同问」「+1」「我们这边也是」「骨科护士站也是这样」「一样的问题」: the sender (or the
    place they speak for) has the problem just reported — not 「我这边也好了」 (a recovery),
    「我也遇到过，找王工」 (advice), 「我也是这么想的」, 「我也是夜班」, 「他也是」, 「我也卡，不过是
    打印机」 (another problem). Longer messages that say so are fine (「药剂科这边一样，发药机
    的接口也报那个错，十点多开始的」): the pipeline asks only of messages it would otherwise leave
    alone or escalate, so an outage told this way is still paged as one."""
    t = _QUOTED.sub("", _MENTION.sub("", simplified(text))).strip()
    if _LETTER_SPACED.fullmatch(t):  # 「我 这 边 也 是 登 不 上」: typed a character at a time
        t = t.replace(" ", "")
    marker = _ME_TOO.search(t)
    if marker is None or len(_core(t[: marker.start()])) > _ME_TOO_SUBJECT:
        return False  # 「…模板里有两条一模一样的补录」: the words come late, in a sentence
    return (
        _SOMEONE_ELSE.search(t[: marker.start()]) is None
        and _NOT_ME_TOO.search(t) is None
        and _NOT_A_PROBLEM.match(t[marker.end() :]) is None
    )


#: The marker comes within the message's first few characters (「我们yb窗口也这样」).
_ME_TOO_SUBJECT = 12
#: A quote of the message answered, as WeCom writes it: 「「叫号系统没声音」 我们儿科也没声了」.
_QUOTED = re.compile(r"^\s*「[^」]*」")
_LETTER_SPACED = re.compile(r"\S{1,2}( \S{1,2}){3,}")


_MENTION = re.compile(r"@\S+\s*")


#: 「怎么还没人回」「有人管吗」「进度怎么样了」「还要等多久」「催一下」「顶一下」: what says someone
#: is waiting on what they reported …
_NUDGE = re.compile(
    r"没人(理|管|回|接|看|跟进|来|回复|处理)|还没(人|好|修好|弄好|处理好|回|动静|回音|到|来|解决)|"
    r"(有|有没有)人(管|理|回|看|跟进|在看|处理|回复)|进度|进展|有(消息|结果|回复|回音)|到哪一步|"
    r"(还要|还得|要|等|得)多久|多久(能|才|了)|(什么时候|啥时候)(能|才能|可以)?(好|修好|弄好|"
    r"处理好|解决|处理|来|恢复|回复|有人)|怎么样了|咋样了|什么情况了|好了没|好没(有)?$|问题呢|"
    r"那个呢|还在(处理|排查|等|看|修)|在处理了吗|跟进|催|等(了|着|好久|半天|这么久)|^up$|"
    r"顶一下$|^顶$|(?<!撤)回一下|回复一下|求回复|快(点|一点)|急(?!诊)+|准话|大概时间|"
    r"(工程师|人|师傅|你们)到了没|人呢|动静|回音|花都谢了|一上午|一下午|半天|好久|"
    r"都快?(过去)?(一个钟|[0-9一二两三四五六七八九十半俩]+多?个?(分钟|小时|钟头|钟))|"
    r"^eta$|status|update|看了没|看了吗|(处理|修)了没|处理了吗|能(修好|弄好|好|恢复|处理好)吗|"
    r"顶$|在不在线|有没有人$|尽快|看下群|群消息|预计时间|等得|说法|说句话|吱一声|到底行不行|速度|"
    r"没回复|到现在没|结果出来没|等不到|换个人|asap|认领|打个电话|回馈|反馈|有人值班|"
    r"多长时间|看到哪|连上了吗|别忘了|看下消息|看一下消息",
    re.IGNORECASE,
)
#: Said by someone content to wait (「行，我先等着，不急」): not a nudge.
_CONTENT_TO_WAIT = re.compile(r"不急|不着急|先等着|我先等|慢慢")
#: A sticker as chat apps write it out: 「[抱拳]」「[捂脸]」.
_STICKER = re.compile(r"\[[^\[\]\s]{1,4}\]")
#: A ticket number quoted in a nudge: 「工单 HIS-0417 麻烦跟进一下」.
_TICKET_REF = re.compile(r"工单\s*[#＃]?\s*[\w\-]+")
#: … and the words a nudge is made of besides: once these and the cues are taken out, a nudge
#: has (almost) nothing left — 「催一下，现在住院那边也不行了」 has, and is decided as a report.
_NUDGE_FILLER = re.compile(
    r"啊|呀|呢|吗|嘛|了|哈|吧|哦|啦|呗|么|诶|哎|喂|我们|我|这边|那边|那个|这个|这|那|刚才|刚刚|"
    r"上午|下午|早上|的|问题|报|提|工单|还|都|也|老师|工程师|小助手|大佬们?|各位|请问|麻烦|拜托|"
    r"谢谢|一下|下|再|问|看|给个|好吗|行吗|能不能|能|可以|病人都在(等|骂|闹)|病人|等着用|挺|很|"
    r"太|真的|到底|怎么|咋|为什么|为啥|现在|没有|没|是|个|去|来|处理|跟进|人|在|快|点|有|到|"
    r"一|二|三|两|小时|分钟|钟|多|久|要|得|什么情况|什么原因|原因|所以|一直|付|今天|窗口堵死|"
    r"病人都围着我|顶不住|救命|宝子们|家人们|医生那边|打电话|你们|遍|心慌|帮忙|上面|你|倒是|"
    r"支持的同事|同事|这都|给个|能不能|先|of|the|any|pls|please|check|看看|出来|负责|哪位|支持组|"
    r"支援组|值班|告诉|大家|拉|说好|十分钟|马上|远程|手工登记|已经开始|实在|撑不住|门口|"
    r"排了.{0,4}人|给个时间|好跟病人解释|解释|估计|还得|时间|窗口|上|连|的"
)


def is_nudge(text: str) -> bool:
    """「怎么还没人回」「进度怎么样了」「还要等多久啊」「顶一下」: waiting on what was reported,
    nothing new said (「都半小时了还没人来，收费处全停了」 says something new: it is decided)."""
    text = _TICKET_REF.sub("", _STICKER.sub("", _MENTION.sub("", simplified(text))))
    if _LETTER_SPACED.fullmatch(text.strip()):  # voice input: 「结果 出来没有 我们 这边 还 等着」
        text = text.replace(" ", "")
    if _ONLY_ASKING.fullmatch(text):  # 「？？？」 after a report: a nudge, if anything waits
        return True
    core = _core(text)
    if not core or _NUDGE.search(core) is None or _CONTENT_TO_WAIT.search(core):
        return False
    return len(_NUDGE_FILLER.sub("", _NUDGE.sub("", core))) <= 2


_ONLY_ASKING = re.compile(r"\s*[?？]{2,}\s*")


#: Words that tell what is wrong (a symptom, an error, a code): a message with them says
#: something new, whatever else it says.
_SYMPTOM = re.compile(
    r"无法|不能|打不|登不|进不|连不|读不|刷不|开不|传不|收不|出不|不了|不出|报错|错误|失败|提示|"
    r"卡|转圈|闪退|黑屏|白屏|乱码|超时|断|停|崩|宕|挂了|没反应|异常|\d{3,}|[a-z]+-?\d+",
    re.IGNORECASE,
)


def tells_a_symptom(text: str) -> bool:
    """「目前门诊和急诊都无法登录，麻烦尽快处理」 tells what is wrong; 「麻烦尽快处理」 does not."""
    return _SYMPTOM.search(_STICKER.sub("", _TICKET_REF.sub("", simplified(text)))) is not None


#: 「恢复了吗」「HIS好了没」「什么时候能好」「还要多久」: whether it is back, asked by anyone.
_ASKS_IF_BACK = re.compile(
    r"(?:恢复|好|修好|弄好|通|能用|可以用)了?(?:吗|么|没|没有|不)|什么时候(?:能|可以|才能|才)?"
    r"(?:好|恢复|修好|用)|还要多久|多久(?:能|才能|才)?(?:好|恢复|修好)|恢复时间|几点(?:能|才能)?恢复"
)


def asks_if_back(text: str) -> bool:
    """「HIS恢复了吗」: asks whether something is back, and tells no symptom of its own
    (「恢复了吗？我这还是登不上」 says what is wrong: it is decided)."""
    plain = _MENTION.sub("", simplified(text)).strip()
    return (
        len(plain) <= 40 and _ASKS_IF_BACK.search(plain) is not None and not tells_a_symptom(plain)
    )
