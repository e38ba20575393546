"""The evidence that the top article answers the message, and the thresholds chosen on it.

Raw similarities do not answer that: e5 puts almost any two Chinese sentences above 0.8, and an
out-of-KB "near miss" shares its module's vocabulary with a real article. What separates a right
answer is the *shape* of the evidence: how far the top article stands above the runner-up, in
both retrievers, and how much of the message the article explains. The verification model
(``intents.verifier``), fitted on labelled queries (``hisbot kb calibrate``), turns these
features into a probability; the answer threshold is then chosen on that probability for a
wrong-answer budget.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from kb_index.index import Hit
from kb_index.text import content_bigrams, lexical_terms, prepare_query

#: What the verification model reads, in its files' column order (see ``features``).
FEATURES: tuple[str, ...] = (
    "dense",
    "dense_question",
    "dense_symptom",
    "dense_z",
    "dense_gap",
    "module_gap",
    "fused_margin",
    "log_bm25",
    "coverage",
    "bigram_share",
    "novel_share",
    "agreement",
    "symptom_gap",
    "question_gap",
    "title_share",
    "request",
    "query_terms",
)

#: A wish or a how-to (能不能…, 在哪里设置, 想改成…, 批量…) rather than a report of something
#: failing. KB articles answer faults; a wish written in an article's vocabulary is the
#: commonest near miss, and no similarity tells the two apart. General support Chinese, not
#: any KB's words.
_REQUEST = re.compile(
    r"能不能|能否|可不可以|可否|是否可以|有没有办法|(?:能|可以)[^，。,？?]{0,12}[吗么嘛]"
    r"|怎么(?:设置|设|改|修改|调|导出|导|加|添加|配置|开通|查|看|弄成|批量)"
    r"|在哪(?:里|儿)?(?:看|改|设置|设|查|维护|配置|调|找|导出)|如何|想(?:要|把|让|改|加|换|调)"
    r"|希望|批量|新加|新增|增加一|加一个|改成|换成|调大|调小|支持"
)


#: 「怎么作废」, 「如何召回」, 「咋订正」: how to do one named thing. Not the words that ask for
#: a fault's fix whatever it is (怎么办, 怎么回事, 怎么弄, 咋整, 怎么处理) nor a complaint (怎么又…,
#: 怎么不…, 怎么还…).
_GENERIC_HOW = (
    "弄|整|搞|办|处理|解决|回事|操作|解|样|了|会|又|老|总|一直|还|都|也|就|突然|这么|那么"
    "|这样|那样|不|没|才|能|可以|设置|修改|改"
)
_HOW_TO = re.compile(
    rf"(?:怎么|如何|咋|怎样)(?:自己|自行)?(?:才能|能|可以|去|把[^，。？?\s]{{0,8}}?)?(?!{_GENERIC_HOW})"
    r"([\u4e00-\u9fff]{2})"
)


def asked_action(message: str) -> str | None:
    """The action a how-to asks for (「备血申请单怎么作废」 → 作废), or None.

    An article that never names the action cannot be the answer to how to do it, however
    close its subject is: the commonest confident near miss on a KB we had not seen was a
    how-to about an article's object (作废, 召回, 订正 an 备血申请 / 灭菌批次 / 报卡 whose
    article is about a failure).
    """
    m = _HOW_TO.search(message)
    return m.group(1) if m else None


def is_request(message: str) -> bool:
    """Does the message ask for a change or how to do something (not report a fault)?"""
    return _REQUEST.search(message) is not None


def features(hits: Sequence[Hit], message: str = "") -> dict[str, float]:
    """Evidence that the top hit addresses ``message``. ``hits`` are ranked, best first.

    Besides the margins (which a near miss wins clearly in a small KB), the verification
    features do not grow with the KB: the standard score of the similarity among all articles,
    the gap to the best article *of the same module*, the similarity to the article's symptom
    (现象) and how far that and the question views stand above the other candidates', how much
    of the message the article's full text explains (IDF mass, content bigrams) against how
    much of it no article mentions at all, how much of the article's
    title the message names, whether the message is a wish rather than a fault, and its length
    (a long message explains itself; a short one matches many articles).
    """
    if not hits:
        return dict.fromkeys(FEATURES, 0.0)
    top, rest = hits[0], hits[1:]
    runner_fused = rest[0].score if rest else top.score - 0.5
    symptom = max(top.dense_symptom, 0.0)
    worst_rank = max(top.dense_rank, top.lexical_rank)
    every = {
        "dense": top.dense,
        "dense_question": top.dense_question,
        "dense_symptom": max(top.dense_symptom, 0.0),
        "dense_z": top.dense_z,
        "dense_gap": top.dense_gap,
        "module_gap": top.module_gap,
        "fused_margin": top.score - runner_fused,
        "log_bm25": math.log1p(max(top.bm25, 0.0)),
        "coverage": top.coverage,
        "bigram_share": top.bigram_share,
        "novel_share": top.novel_share,
        # both retrievers put it first (1), one of them second (0.5), or they disagree (0)
        "agreement": 1.0 if worst_rank == 0 else 0.5 if worst_rank == 1 else 0.0,
        # how far the article's own symptom and questions stand above the other candidates':
        # what tells it from its near-miss siblings, not from the whole KB
        "symptom_gap": symptom - max(max(h.dense_symptom, 0.0) for h in rest) if rest else 0.0,
        "question_gap": top.dense_question - max(h.dense_question for h in rest) if rest else 0.0,
        "title_share": top.title_share,
        "request": 1.0 if is_request(message) else 0.0,
        "query_terms": math.log1p(len(content_bigrams(lexical_terms(prepare_query(message))))),
    }
    return {name: every[name] for name in FEATURES}


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    answer_accuracy: float
    wrong_rate: float


def choose_threshold(
    probs: Sequence[float],
    correct: Sequence[bool],
    answerable: Sequence[bool],
    max_wrong_rate: float,
    total: int | None = None,
) -> ThresholdChoice:
    """The lowest threshold whose wrong-answer rate (over all messages) stays within budget.

    ``correct``: the top article is the expected one; ``answerable``: the message has an
    expected article. ``total`` is the number of messages the rate is over (default: all given;
    messages decided by rules before retrieval count too). Ties go to the higher threshold.
    """
    n = total if total is not None else len(probs)
    n_answerable = max(sum(answerable), 1)
    levels = sorted(set(probs), reverse=True)
    best = ThresholdChoice(math.inf, 0.0, 0.0)  # nothing fits the budget: never answer
    for i, t in enumerate(levels):
        answered = [p >= t for p in probs]
        wrong = sum(1 for a, c in zip(answered, correct, strict=True) if a and not c) / max(n, 1)
        acc = sum(1 for a, c in zip(answered, correct, strict=True) if a and c) / n_answerable
        if wrong > max_wrong_rate:
            break
        if acc > best.answer_accuracy:
            # halfway to the next lower level: the boundary is not fitted to one sample
            below = levels[i + 1] if i + 1 < len(levels) else 0.0
            best = ThresholdChoice(round((t + below) / 2, 4), acc, wrong)
    return best


def choose_confirm_threshold(
    probs: Sequence[float],
    correct: Sequence[bool],
    answer_threshold: float,
    max_wrong_rate: float,
    min_precision: float,
) -> float:
    """The lowest threshold below ``answer_threshold`` for asking 「是这个问题吗？」.

    Walking down from the answer threshold, stop once confirmations of the wrong article
    exceed the budget (a share of ``probs``); keep the lowest level at which at least
    ``min_precision`` of the confirmations are about the right article. ``inf`` when no level
    qualifies: the bot then never asks and escalates instead.
    """
    band = sorted(
        ((p, c) for p, c in zip(probs, correct, strict=True) if p < answer_threshold),
        key=lambda pc: -pc[0],
    )
    n = max(len(probs), 1)
    right = wrong = 0
    best = math.inf
    for i, (p, c) in enumerate(band):
        right += c
        wrong += not c
        if wrong / n > max_wrong_rate:
            break
        nxt = band[i + 1][0] if i + 1 < len(band) else 0.0
        if right / (right + wrong) >= min_precision and nxt < p:
            best = round((p + nxt) / 2, 4)
    return best
