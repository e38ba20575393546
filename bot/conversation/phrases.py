"""The few short messages whose meaning does not depend on the KB: greetings that open a
question (「在吗」), thanks that close one (「好的谢谢」), a bare 「还是不行」, 「我们这边也是」
(someone else has the problem just reported) and 「怎么还没人回」 (a reporter waiting).

Each is matched on the whole message (mentions of the bot and punctuation removed), so a
greeting *with* a question after it is a question, and 「谢谢，还有个问题…」 is not thanks.
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


#: 「同问」「+1」「我们这边也是」「我这也一样」: the start of a message saying the sender has the
#: problem someone else reported. Only the first person (我, 我们, 我这边, 我们科 …): 「他也是」 is
#: talk about a third person.
_ME_TOO = re.compile(
    r"(同问|同求|同上|\+1|加一|me too|俺也一样|"
    r"(我|我们|俺|咱|咱们)(这|这边|这里|那边|科|科室|病区|窗口|这台|这儿)?"
    r"(也是|也一样|也这样|也是这样|也是这个问题|也是一样|也遇到了|也碰到了|也出现了|也有这个问题|一样))",
    re.IGNORECASE,
)
#: After the head, what makes it something else: a recovery (「我这边也好了」), the past or
#: hearsay (「我们科也是这样 上周就出现过」, 「我这边也遇到过，是王工帮我改的」), an errand.
_NOT_ME_TOO = re.compile(
    r"好了|恢复|刚好|可以了|能用了|正常了|没事了|解决了|不用|能[^，。,.\s]{1,4}了|过了|遇到过|出现过|"
    r"以前|之前|上次|上周|昨天|前天|申请|找他|找她|问问|这么想|觉得|认为|打算|想"
)


def is_me_too(text: str) -> bool:
    """「同问」「+1」「我们这边也是」「我这也一样，一直转圈」: the sender has the problem just
    reported — not 「我这边也好了」 (a recovery), 「我也遇到过，找王工」 (advice), 「我也是这么想的」."""
    stripped = _MENTION.sub("", simplified(text)).strip()
    head = _ME_TOO.match(stripped)
    if head is None:
        return False
    rest = stripped[head.end() :]
    if rest and not (_PAUSE.match(rest) or _core(rest) == "" or _PARTICLES.fullmatch(_core(rest))):
        return False  # 「我也是这么想的」: the head runs on into a sentence of its own
    return _NOT_ME_TOO.search(rest) is None


_MENTION = re.compile(r"@\S+\s*")
_PAUSE = re.compile(r"[\s,，。.!！~～…、;；:：+]")
_PARTICLES = re.compile(r"(的|啊|呀|哦|了|呢|哈|啦|嘛)+")


#: 「怎么还没人回」「有人管吗」「进度怎么样了」「还要等多久」「催一下」: someone waiting on what
#: they reported, and nothing else said (matched on the whole message, like the greetings).
_NUDGE = re.compile(
    r"((怎么|咋|为什么|为啥)?(还|都|一直)?(没|没有)(人|工程师)(回|理|管|回复|回应|处理|接单|受理|来|联系)(我|我们)?|"
    r"(有人|有没有人|能不能有人)(管管|管|理|回|处理|看)(一下|下)?(吗|没|没有)?|"
    r"(工程师|客服|人|你们的人)(呢|在哪|去哪了|怎么还没来)|"
    r"催(一下|下|一催|办)?|"
    r"(还|还要|要)等(多久|多长时间|到什么时候|到啥时候)|"
    r"(什么时候|啥时候|多久|几点)(能|可以|才能)?(好|修好|弄好|处理好|解决|处理|来|恢复|回复)|"
    r"(进度|进展)(怎么样|如何|咋样)?|有(进展|进度|消息|结果)(吗|没|没有|了吗)?|"
    r"(处理|弄|修)(得)?(怎么样|如何|咋样|好了没|好没)|"
    r"都(半个?小时|一个小时|[一二两三四五六七八九十0-9]+(个)?(分钟|小时|钟头))了|"
    r"(快|快点|快点儿|赶紧|麻烦快点)(处理|解决|来|看看|看一下)?(一下)?|急+|急死了?|着急|等着呢|"
    r"啊|呀|呢|吗|嘛|了|哈|吧|哦|啦|们|我|我们|这边|那个|刚才|的|问题|还|都|老师|工程师|小助手|请问|麻烦)+"
)
#: The words that make it a nudge (the particles alone are not one).
_NUDGE_CORE = re.compile(
    r"没(有)?(人|工程师)|有人|有没有人|呢|在哪|去哪|催|等|什么时候|啥时候|多久|几点|进度|进展|"
    r"消息|结果|怎么样|如何|咋样|好了没|好没|都.*了|快|赶紧|急|着急"
)


def is_nudge(text: str) -> bool:
    """「怎么还没人回」「进度怎么样了」「还要等多久啊」: waiting on what was reported, nothing
    new said (「都半小时了还没人来，收费处全停了」 says something new: it is decided)."""
    core = _core(text)
    return (
        bool(core) and _NUDGE.fullmatch(core) is not None and _NUDGE_CORE.search(core) is not None
    )
