"""Who a group message is addressed to: @mentions (the bot's names or someone else's) and a
call at its start (「王工，…」, 「检验科的同事，…」, 「护士长，…」) — talk between people the bot stays
out of. Also the message as the classifier's n-grams read it, mentions replaced by who they
address."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from kb_index.text import COMMON_SURNAMES, COMPOUND_SURNAMES, visible

#: Names the bot answers to in a message's text (platform mentions arrive as flags too).
DEFAULT_BOT_NAMES: tuple[str, ...] = ("小助手", "助手", "机器人", "hisbot")
#: A mention's name runs to a blank or punctuation; glued to the text after it ("@王工刚才…")
#: only its first two characters are taken as the name (王工, 李姐), the rest stays text.
_MENTION = re.compile(r"@([^\s@，,:：。！？!?]{1,8})(?=[\s，,:：。！？!?]|$)|@([^\s@]{1,2})")
#: ``@所有人`` and its kin address the whole group (an announcement), not someone else.
EVERYONE = re.compile(
    r"@(所有人|全体成员|全体|大家|all|everyone|here|channel)(?![A-Za-z0-9])", re.I
)
#: Calling a colleague by surname and title (or 小王 / 老周) at the start of a message, then a
#: pause or a pronoun: 「彭老师，科里说EMR又卡了」 and 「刘医生我EMR出问题了」 are for them, written
#: without an @. The title must be followed by a separator, a greeting or 我/你/您, so
#: 「李医生开的医嘱打不出来」 stays a question. With a title right after it, a surname that often
#: starts an ordinary word (高, 余, 金, 方) is a name too; those that start one even before a
#: title (施工, 常规, 安装, 文件) are left out.
_VOCATIVE_SURNAMES = (
    COMMON_SURNAMES + "傅高余金方史程白康万任武严欧于钱汤樊葛邢乔伍庞颜倪庄聂牛温阎"
)
_TITLES = (
    "工|老师|医生|大夫|主任|护士长|护士|姐|哥|总|科长|处长|院长|书记|师傅|组长|经理|部长"
    "|药师|技师|会计"
)
_SEPARATOR = r"[\s，,：:、!！~～]"
_PAUSE = rf"(?:{_SEPARATOR}|$)"
#: A department's colleagues called at the start: 「检验科的同事，麻烦…」, 「病案室的老师 …」,
#: 「麻烦药剂科的同事把退药单送过来」. The person word is required: 「检验科的 条码打印机…」 is
#: the sender saying where they work. Reported speech (「收费处的同事说…」) and thanks
#: (「辛苦信息科的老师们」) are not calls.
_DEPARTMENT = (
    r"(?!我|咱|你|您|各|辛苦|感谢|谢谢)(?:[\u4e00-\u9fffA-Za-z]{1,6}?(?:科|室|房|处|中心|病区|部|办)"
    # the departments called by a short name: 「静配的同事，…」, 「病案的老师 …」
    r"|静配|后勤|总务|保卫|病案|检验|放射|影像|超声|心电|内镜)"
)
_COLLEAGUES = r"的(?:同事|老师|同志|师傅|兄弟|姐妹|朋友|美女|帅哥)们?"
_SHIFT = r"(?:夜班|白班|中班|早班|晚班|下一班|接班|下个班|大夜|小夜)"
#: Who a message starting like this is told to: a colleague by name and title, a department's
#: colleagues, a superior by title alone (「护士长，」), the next shift (「跟夜班说一下」,
#: 「交接一下：」). Each is exact over every labelled message we have (none a question, an
#: outage or a notice: eval/prereg/2026-12-07-tenth-session.txt).
_CALLS_A_PERSON = (
    re.compile(
        rf"^(?:(?:{'|'.join(COMPOUND_SURNAMES)}|[{_VOCATIVE_SURNAMES}])(?:{_TITLES})"
        rf"|[小老][{_VOCATIVE_SURNAMES}])(?:(?:您好|你好|在吗|在不在)?{_PAUSE}|我|你|您)"
    ),
    re.compile(
        rf"^(?:(?:麻烦|请){_DEPARTMENT}{_COLLEAGUES}"
        rf"|{_DEPARTMENT}{_COLLEAGUES}(?:{_SEPARATOR}|麻烦|帮|请|能不能|可以|可不可以))"
    ),
    # a department named bare, then a request, 你们 or 我们 (another department's), a when, or
    # what was done for them: 「药房，12床的那个药能不能先发一支」, 「药房，刚才那张处方显示已发药，
    # 你们查一下」, 「供应室，我们科的器械包…」, 「病案室，上个月的病历什么时候来收」, 「护理部，申请表
    # 已经交了」 (「收费处，2号窗口打不了发票」 and 「收费处，我们这边…」 name where the sender works)
    re.compile(
        rf"^{_DEPARTMENT}的?[\s，,](?=.*(?:能不能|能否|麻烦|帮忙|帮我们|帮我|可不可以|插个队|先发"
        r"|送一下|送过来|拿一下|送上来|你们|我们(?!这|那|窗口)|什么时候|啥时候|几点"
        r"|已经(?:交|提交|审|送|发|报)|交过去|送过去|提交了|交了))"
    ),
    # asked of a department: 「麻烦检验科把昨天那个标本再复查一下」
    re.compile(rf"^(?:麻烦|请){_DEPARTMENT}的?(?:帮忙|帮我们|帮我|把|给|再|先)"),
    re.compile(rf"^(?:护士长|主任|院长|科长|处长|组长|部长|书记)(?:您好|你好|在吗)?{_PAUSE}"),
    re.compile(
        rf"^(?:(?:跟|和|给|告诉){_SHIFT}的?(?:同事|老师)?们?(?:说|讲|交代)"
        rf"|{_SHIFT}的(?:同事|老师|同志|姐妹|兄弟|小伙伴)们?(?:[\s，,：:、!！]|注意|记得|麻烦)"
        r"|(?:交接|交班|交接班)一下[：:，,\s]|(?:交班|交接班|交接|[白夜中早晚]班交[白夜中早晚]班)[：:]"
        # 「夜班交接：…」, 「交给早班：…」 (fourteenth session, study 4)
        rf"|{_SHIFT}交接(?:一下)?[：:，,\s]|交给{_SHIFT}的?(?:同事|老师)?们?[：:，,\s]"
        r"|交班的时候跟)"
    ),
)
#: Marks standing in for mentions in the n-gram view: who is addressed is strong evidence.
BOT_MARK = "\u24b7"  # Ⓑ
PERSON_MARK = "\u24c5"  # Ⓟ


@dataclass(frozen=True)
class Addressing:
    """Who a message is addressed to, as far as the platform and the text say."""

    mentions_bot: bool = False
    mentions_others: bool = False
    #: The message replies to another person's message (not the bot's, not the sender's own).
    reply_to_person: bool = False

    def __or__(self, other: Addressing) -> Addressing:
        """What either source says (the platform's flags, the text's own @mentions)."""
        return Addressing(
            self.mentions_bot or other.mentions_bot,
            self.mentions_others or other.mentions_others,
            self.reply_to_person or other.reply_to_person,
        )

    @property
    def between_people(self) -> bool:
        """Addressed to someone else and not to the bot: the bot stays out of it."""
        return (self.mentions_others or self.reply_to_person) and not self.mentions_bot


def text_addressing(text: str, bot_names: Sequence[str] = DEFAULT_BOT_NAMES) -> Addressing:
    """Mentions written in the text itself (``@小助手``, ``@王工``), or a call at its start
    (「王工，…」, 「检验科的同事，…」, 「护士长，…」)."""
    cleaned = visible(text)
    bot = others = False
    for _start, _end, is_bot in _mentions(cleaned, bot_names):
        bot = bot or is_bot
        others = others or not is_bot
    start = cleaned.strip()
    others = others or any(call.match(start) for call in _CALLS_A_PERSON)
    return Addressing(mentions_bot=bot, mentions_others=others)


def _mentions(text: str, bot_names: Sequence[str]) -> list[tuple[int, int, bool]]:
    """(start, end, is_bot) of every @mention in cleaned text; a bot name glued to the text
    after it ("@小助手全院都登不上了") ends where the name does."""
    names = sorted((n.lower() for n in bot_names), key=len, reverse=True)
    out: list[tuple[int, int, bool]] = []
    pos = 0
    while (at := text.find("@", pos)) >= 0:
        if at > 0 and (text[at - 1].isascii() and text[at - 1].isalnum()):
            pos = at + 1  # an e-mail address, not a mention
            continue
        name = next((n for n in names if text.startswith(n, at + 1)), None)
        if name is not None:
            out.append((at, at + 1 + len(name), True))
            pos = at + 1 + len(name)
            continue
        m = _MENTION.match(text, at)
        end = m.end() if m else at + 1
        if end > at + 1 and not EVERYONE.match(text, at):
            out.append((at, end, False))
        pos = end
    return out


def surface(text: str, bot_names: Sequence[str] = DEFAULT_BOT_NAMES) -> str:
    """The text the n-gram view reads: cleaned, mentions replaced by who they address."""
    return replace_mentions(visible(text), bot_names, f" {BOT_MARK} ", f" {PERSON_MARK} ")


def replace_mentions(cleaned: str, bot_names: Sequence[str], bot: str, person: str) -> str:
    """``cleaned`` text with each @mention (``_mentions``) replaced by ``bot`` or ``person``,
    runs of whitespace collapsed."""
    parts: list[str] = []
    last = 0
    for start, end, is_bot in _mentions(cleaned, bot_names):
        parts.extend((cleaned[last:start], bot if is_bot else person))
        last = end
    parts.append(cleaned[last:])
    return " ".join("".join(parts).split())


def without_mentions(cleaned: str, bot_names: Sequence[str]) -> str:
    """``cleaned`` (visible) text without its @mentions, @所有人 among them: 「@小助手 HIS崩了」,
    「@王工 HIS崩了」 and 「@所有人 HIS崩了」 read as the bare report."""
    return EVERYONE.sub(" ", replace_mentions(cleaned, bot_names, " ", " ")).strip()


@functools.lru_cache(maxsize=8)
def _called_at_start(bot_names: tuple[str, ...]) -> re.Pattern[str] | None:
    """The bot's names called at a message's start (「小助手 还没好」), compiled once per name list."""
    names = "|".join(re.escape(name) for name in sorted(bot_names, key=len, reverse=True))
    return re.compile(rf"^(?:{names})[\s,，:：]*", re.IGNORECASE) if names else None


def unaddressed(text: str, bot_names: Sequence[str]) -> str:
    """``without_mentions``, and without the bot's name called at its start (「小助手 还没好」
    reads as 「还没好」)."""
    t = without_mentions(visible(text), bot_names)
    called = _called_at_start(tuple(bot_names))
    return called.sub("", t) if called is not None else t
