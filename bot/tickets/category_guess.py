"""The likely service categories of an escalated question, best first.

The nearest KB articles' categories are a poor guess for a question the KB could not answer:
the nearest article of an unanswered question is by definition about something else
(「腕带打印空白」 lands near a LIS article, 「登录HIS报错」 near a PACS one). The words that
name a module or a kind of work — 医保, 检验, 影像, 报表, 上报, 安装, 升级, 录错, 接口, 怎么开通 —
say more, so they decide when the question has them; a question that names nothing is taken
as a usage question (使用, the most common kind of ticket in every labelled KB). Measured by
``scripts/category_accuracy.py`` (README, "Measured figures"): pooled accuracy 0.435 for
the nearest articles' vote, 0.496 for module words then the nearest articles, 0.553 for
module words then usage, which is what tickets are opened with.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from bot.tickets.categories import CATEGORIES, suggest_category
from kb_index.text import prepare_query

#: Words that name a category's module or kind of work (matched on normalised text, with
#: pinyin shorthand expanded: yb → 医保). Written from the contract's categories, not fitted.
MODULE_WORDS: dict[str, tuple[str, ...]] = {
    "insurance": (
        "医保",
        "社保",
        "农合",
        "异地就医",
        "统筹",
        "参保",
        "医保卡",
        "医保码",
        "电子凭证",
        "门特",
        "慢特病",
        "结算清单",
        "drg",
        "dip",
        "贯标",
        "医保目录",
        "医保中心",
    ),
    "lis": (
        "lis",
        "检验",
        "化验",
        "标本",
        "危急值",
        "试管",
        "采血",
        "血常规",
        "生化",
        "微生物",
        "检验科",
        "质控",
        "条码打印机",
    ),
    "pacs": (
        "pacs",
        "影像",
        "胶片",
        "放射",
        "ct",
        "核磁",
        "mri",
        "dr片",
        "超声",
        "彩超",
        "b超",
        "内镜",
        "胃镜",
        "阅片",
        "dicom",
        "检查登记",
        "图像",
    ),
    "report": ("报表", "日报", "月报", "年报", "统计表", "汇总表", "工作量统计", "报表中心"),
    "data-report": (
        "上报",
        "直报",
        "卫健委",
        "传染病",
        "国家平台",
        "监测平台",
        "首页上传",
        "数据上传",
        "前置机",
        "绩效考核",
    ),
    "install": (
        "安装",
        "部署",
        "重装",
        "装系统",
        "驱动",
        "控件",
        "新电脑",
        "换电脑",
        "客户端装",
        "证书安装",
        "环境配置",
    ),
    "upgrade": ("升级", "补丁", "新版本", "版本更新", "更新后", "升完级"),
    "data-fix": (
        "录错",
        "改错",
        "写错",
        "填错",
        "输错",
        "冲销",
        "作废",
        "撤销",
        "多算",
        "多计",
        "少算",
        "少计",
        "重复收费",
        "修改数据",
        "改数据",
        "数据不对",
        "回退",
        "退回",
    ),
    "third-party": (
        "接口",
        "对接",
        "第三方",
        "自助机",
        "银联",
        "支付宝",
        "微信支付",
        "聚合支付",
        "电子票据",
        "财政票据",
        "电子发票",
        "短信",
        "公众号",
        "互联网医院",
        "webservice",
    ),
    "consult": (
        "怎么开通",
        "如何开通",
        "是否支持",
        "能不能",
        "可不可以",
        "咨询",
        "政策",
        "收费标准",
    ),
}

_LATIN = re.compile(r"[a-z][a-z0-9]*")


def module_votes(text: str) -> Counter[str]:
    """How many of each category's module words the question has."""
    norm = prepare_query(text).lower()
    latin = set(_LATIN.findall(norm))
    votes: Counter[str] = Counter()
    for category, words in MODULE_WORDS.items():
        for word in words:
            hit = word in latin if word.isascii() and word.isalnum() else word in norm
            if hit:
                votes[category] += 1
    return votes


#: The category of a question that names no module: how to use the system.
WITHOUT_MODULE_WORDS = "usage"


def likely_categories(text: str, nearest: Sequence[str] = (), k: int = 3) -> list[str]:
    """Up to ``k`` categories, best first: by module words, then usage, then the nearest
    articles' categories (``nearest``: nearest first), then the catch-all."""
    votes = module_votes(text)
    order = list(CATEGORIES)
    ranked = sorted(votes, key=lambda c: (-votes[c], order.index(c)))
    ranked += [WITHOUT_MODULE_WORDS, *(c for c in nearest if c in CATEGORIES)]
    ranked.append(suggest_category([]))
    return list(dict.fromkeys(ranked))[:k]


def guess_category(text: str) -> str:
    """The category an escalation is registered with."""
    return likely_categories(text, (), 1)[0]
