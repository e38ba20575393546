"""A synthetic KB for the engine benchmark: ``n`` distinct, realistic articles recombined from a
real KB (``benchmarks/engine.py`` builds and serves indexes of up to 10,000 of them)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kb_index.articles import Article

SEED = 20260518

_SENTENCE = re.compile(r"[^。！？；!?]+[。！？；!?]?")
_STEP_NUMBER = re.compile(r"^\s*\d+[.、．)]\s*")
_NUMBER = re.compile(r"\d{2,}")

EXTRA_MODULES = (
    "门诊挂号",
    "门诊收费",
    "门诊医生站",
    "住院医生站",
    "住院护士站",
    "住院收费",
    "药房管理",
    "药库管理",
    "医保接口",
    "电子病历",
    "手麻系统",
    "体检系统",
    "病案管理",
    "输血管理",
    "院感监测",
    "治疗管理",
    "物资管理",
    "设备管理",
    "财务核算",
    "预约挂号",
    "自助机",
    "移动护理",
    "合理用药",
    "临床路径",
    "DRG分组",
    "报表中心",
    "数据接口",
    "健康卡",
    "急诊留观",
    "静配中心",
    "血透管理",
    "供应室管理",
    "检验科LIS",
    "放射科PACS",
)
_ASK_LEADS = ("请问", "老师，", "急：", "同事反映", "@小助手 ", "麻烦问下，", "早上开始", "")
_ASK_TAILS = ("，怎么处理", "，咋办", "？", "，有人知道吗", "，在线等", "", "，急")
_DEPTS = ("一号窗口", "二病区", "急诊", "新院区", "分院", "三楼收费处", "体检中心", "门诊药房")


def _sections(body: str) -> dict[str, str]:
    parts = re.split(r"(?m)^##\s+", body)
    out: dict[str, str] = {}
    for part in parts[1:]:
        heading, _, text = part.partition("\n")
        out[heading.strip()] = text.strip()
    return out


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text.replace("\n", "")) if s.strip()]


def _steps(text: str) -> list[str]:
    return [_STEP_NUMBER.sub("", ln).strip() for ln in text.splitlines() if ln.strip()]


def synthetic_articles(source: Sequence[Article], n: int, seed: int = SEED) -> list[Article]:
    """``n`` distinct, realistic articles recombined from ``source``; deterministic in ``seed``.

    Article ``i`` is the same for every ``n > i``. Each one takes a base article and moves it to
    another module (the module name is substituted everywhere), mixes in a sentence or step of a
    second article, changes some numbers (error codes, versions, amounts) and rewords the
    questions the way chat users write; titles and questions are made unique.
    """
    import dataclasses
    import datetime as dt

    modules = sorted({a.module for a in source} | set(EXTRA_MODULES))
    seen: set[str] = set()

    def unique(text: str, rng: random.Random, extra: Callable[[], str]) -> str:
        candidate = text
        while candidate in seen:
            candidate = f"{text}{extra()}"
        seen.add(candidate)
        return candidate

    out: list[Article] = []
    for i in range(n):
        rng = random.Random(f"{seed}:{i}")
        base = source[rng.randrange(len(source))]
        other = source[rng.randrange(len(source))]
        module = rng.choice(modules)

        def sub(text: str, rng: random.Random = rng, base: Article = base, m: str = module) -> str:
            text = text.replace(base.module, m)
            return _NUMBER.sub(
                lambda x: (
                    str(rng.randrange(10 ** (len(x.group()) - 1), 10 ** len(x.group())))
                    if rng.random() < 0.5 and not x.group().startswith("0")
                    else x.group()
                ),
                text,
            )

        def version(rng: random.Random = rng) -> str:
            return f"（V10.{rng.randint(20, 40)}.{rng.randint(0, 9)}）"

        title = sub(base.title)
        if module not in title and rng.random() < 0.7:
            title = f"{module}{title}"
        title = unique(title, rng, version)

        questions: list[str] = []
        for q in base.questions:
            text = f"{rng.choice(_ASK_LEADS)}{sub(q).rstrip('？?')}{rng.choice(_ASK_TAILS)}"
            questions.append(unique(text, rng, lambda rng=rng: f"（{rng.choice(_DEPTS)}）"))

        bs, os_ = _sections(base.body), _sections(other.body)
        symptom = _sentences(bs.get("现象", ""))
        if rng.random() < 0.4 and (extra := _sentences(os_.get("现象", ""))):
            symptom.insert(rng.randrange(len(symptom) + 1), rng.choice(extra))
        cause = bs.get("原因", "") if rng.random() < 0.8 else os_.get("原因", "")
        steps = _steps(bs.get("处理步骤", ""))
        if rng.random() < 0.3 and (more := _steps(os_.get("处理步骤", ""))):
            steps.insert(rng.randrange(len(steps) + 1), rng.choice(more))
        note = bs.get("注意", "") if rng.random() < 0.7 else os_.get("注意", "")
        parts = [
            "## 现象\n" + sub("".join(symptom) or base.title),
            "## 原因\n" + sub(cause or "待查。"),
            "## 处理步骤\n" + "\n".join(f"{k}. {sub(s)}" for k, s in enumerate(steps, 1)),
        ]
        if note:
            parts.append("## 注意\n" + sub(note))
        body = "\n\n".join(parts)
        while body in seen:  # the same base article, and its module not named in the body
            where = f"{rng.choice(_DEPTS)}的{module}出现此问题。"
            body = body.replace("## 现象\n", f"## 现象\n{where}", 1)
        seen.add(body)
        out.append(
            dataclasses.replace(
                base,
                id=f"syn-{i:05d}",
                title=title,
                module=module,
                tags=(*base.tags, module),
                questions=tuple(questions),
                updated=dt.date(2025, 1, 1) + dt.timedelta(days=i % 500),
                body=body,
            )
        )
    return out


def changed_article(article: Article) -> Article:
    """The same article with one more caveat sentence (a typical small KB edit)."""
    import dataclasses

    body = article.body + "\n补充：2026年5月起该问题已在新版本中修复，升级后无需再手工处理。"
    return dataclasses.replace(article, body=body)
