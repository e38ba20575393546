"""Small talk: greetings, thanks, acknowledgements, emoji, forwarded notices.

The bot must stay quiet on these — a KB article pushed at "收到" is noise in a busy group. Rules
rather than similarity: chit-chat is a small closed set of phrases, and a rule never mistakes a
short real complaint ("收费报错") for a greeting, because any *problem signal* overrides it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb_index.text import has_cjk, latin_tokens, normalise

_PLACEHOLDER = re.compile(
    r"^\[(图片|表情|动画表情|语音|视频|文件|链接|位置|名片|image|photo|sticker)\]$"
)
_FORWARDED = re.compile(
    r"^(【(转发|通知|公告|转)】|转发[:：]|\[转发\]|fw[:：]|fwd[:：])|^关于.{2,40}的通知"
)
_CORE = (
    r"好的?|好嘞|好滴|行|可以了?|ok|okay|嗯+|恩+|哦+|噢+|收到了?|明白了?|了解了?|知道了|懂了|"
    r"谢谢|多谢|感谢|谢了|谢啦|thx|thanks|thank you|辛苦了?|麻烦了|"
    r"你好|您好|早上好|上午好|中午好|下午好|晚上好|早安|晚安|早|hi|hello|"
    r"哈+|呵+|嘿+|在吗|在不在|有人吗|再见|拜拜|周末愉快|节日快乐|新年快乐|"
    r"解决了|已解决|搞定了?|好了|可以用了|正常了|没问题了|我试一?下|我再试试|稍等|马上试|"
    r"你是(机器人|谁|ai)吗?|你叫什么|请多关照|以后请多关照|多多关照|欢迎"
)
#: Who is addressed and the particles around a phrase: "大家早上好", "谢谢小助手", "辛苦了各位老师".
_AROUND = (
    r"小助手|助手|机器人|老师|工程师|各位|大家|您|你|们|啦|了|哈|呀|啊|哦|喔|噢|呢|吧|嘛|哒|的"
)
#: A clause made only of chit-chat phrases (several may follow each other: "好的谢谢").
_PHRASES = re.compile(rf"(?:{_AROUND})*(?:(?:{_CORE})(?:{_AROUND})*)+")
_PROBLEM = re.compile(
    r"怎么|怎样|如何|咋|为啥|为什么|什么|在哪|哪里|哪儿|哪个|哪些|多少|几点|几天|是否|有没有|"
    r"要不要|需不需要|吗[?？]?$|[?？]|能不能|能否|可不可以|"
    r"报错|错误|提示|失败|异常|不了|不能|无法|不行|没法|不出|不上|不到|不对|不显示|"
    r"卡|慢|乱|白屏|黑屏|空白|丢|重复|问题|故障|不正常|坏了|没反应|没有|没了|不见|"
    r"[打登进连看找用装开]不|不开|不去|帮忙|帮我|请问|看下|看一下|ora-|error|bug"
)


@dataclass(frozen=True)
class SmalltalkSignal:
    is_smalltalk: bool
    reason: str


def _content(text: str) -> str:
    """Message with punctuation, emoji and whitespace removed (what is left to understand)."""
    return "".join(ch for ch in text if ch.isalnum())


def detect_smalltalk(text: str) -> SmalltalkSignal:
    """Is this message chit-chat the bot should not answer?"""
    t = normalise(text)
    content = _content(t)
    if not content:
        return SmalltalkSignal(True, "no words (emoji or punctuation only)")
    if _PLACEHOLDER.match(t.strip()):
        return SmalltalkSignal(True, "media placeholder")
    if _FORWARDED.search(t):
        return SmalltalkSignal(True, "forwarded notice")
    if not has_cjk(t) and not latin_tokens(t):
        return SmalltalkSignal(True, "no words")
    # split into clauses; every clause must be chit-chat for the message to be chit-chat
    clauses = [c for c in re.split(r"[，,。.!！~～\s；;、]+", t) if _content(c)]
    chatty = bool(clauses) and all(_PHRASES.fullmatch(_content(c)) for c in clauses)
    # a question about the bot itself ("你是机器人吗") is chit-chat, any other question is not
    asking = [c for c in clauses if _PROBLEM.search(c) and not _content(c).startswith("你是")]
    if chatty and not asking:
        return SmalltalkSignal(True, "greeting, thanks or acknowledgement")
    return SmalltalkSignal(False, "")


def looks_like_a_question(text: str) -> bool:
    """Does the message ask something or report a problem? Used when retrieval finds nothing:
    a real question is escalated, anything else (an introduction, a greeting with news) is left
    alone rather than turned into a ticket."""
    t = normalise(text)
    if _PROBLEM.search(t):
        return True
    clauses = [_content(c) for c in re.split(r"[，,。.!！~～\s；;、]+", t) if _content(c)]
    return len(_content(t)) >= 12 and not any(_PHRASES.fullmatch(c) for c in clauses)
