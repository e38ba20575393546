"""「本周新出现的常见问题」: the problems of a period as a text for the desk and the terminal."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.kb.loop.problems import Coverage, Problem
from kb_index.articles import Article

_VERDICT = {
    Coverage.COVERED: "已有文章覆盖",
    Coverage.NEAR: "相近文章，建议补充问法",
    Coverage.UNCOVERED: "无文章，建议起草",
    Coverage.NOT_KB: "工程师标注：无需文章",
}
#: Examples and resolutions shown per problem.
EXAMPLES = 3


def coverage_text(problem: Problem, article: Callable[[str], Article | None]) -> str:
    found = article(problem.article_id) if problem.article_id else None
    title = f"《{found.title}》({found.id})" if found else ""
    return f"{_VERDICT[problem.coverage]}{' ' + title if title else ''}"


def summary(
    problems: Sequence[Problem],
    article: Callable[[str], Article | None],
    hospital_name: Callable[[str], str],
    heading: str = "本周新出现的常见问题",
    limit: int = 10,
) -> str:
    """The ranked problems with examples, hospitals, resolutions and coverage."""
    if not problems:
        return f"{heading}：无（没有重复出现的问题）。"
    lines = [f"{heading}（{len(problems)} 个，按涉及医院数和次数排序）："]
    for n, p in enumerate(problems[:limit], start=1):
        hospitals = "、".join(hospital_name(h) for h in p.hospitals[:5])
        more = f" 等 {len(p.hospitals)} 家" if len(p.hospitals) > 5 else ""
        texts = list(dict.fromkeys(i.text for i in p.items))
        lines.append(
            f"{n}. {texts[0][:40]} —— {len(p.items)} 次，{len(p.hospitals)} 家医院"
            f"（{hospitals}{more}）；{coverage_text(p, article)}"
        )
        lines.extend(f"   例：{t[:60]}" for t in texts[1 : 1 + EXAMPLES])
        lines.extend(f"   处理：{r[:80]}" for r in p.resolutions[:EXAMPLES])
        if p.tickets:
            lines.append("   工单：" + " ".join(f"#{t}" for t in p.tickets[:6]))
    if len(problems) > limit:
        lines.append(f"…… 另有 {len(problems) - limit} 个，见控制台「常见问题」。")
    return "\n".join(lines)
