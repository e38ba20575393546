"""Outage detection: is this message about many users or a core system being down right now?

It must not depend on the KB containing the outage (a KB article about a failed 医保 settlement
must never turn "all 医保 settlements fail" into a friendly FAQ answer). So it is a small set of
rules over the normalised message: *breadth* (全院, 所有, 每台 …) together with *failure*
(登不上, 卡死, 宕机 …), or a failure that is an outage by itself (服务器宕机, 数据库挂了, 断电).
A single workstation's problem ("我这台电脑登不上") stays a normal question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb_index.text import normalise

#: Words that say the failure is not one user's: the whole hospital, every desk, all patients.
_BREADTH = re.compile(
    r"全院|全部|所有|整个|每台|每个|各个?科室?|全科|全都|大面积|多个科室|好几个科室|"
    r"一个都|谁都|大家都|都不能用|都用不了|都登不|都进不|都连不|都打不开|全线|全网"
)
#: Failure words that, together with breadth, make an outage.
_FAILURE = re.compile(
    r"登不上|登不进|登录不了|登陆不了|进不去|连不上|连接不上|无法连接|无法登录|无法登陆|"
    r"连接超时|超时|卡死|卡住|死机|没反应|无响应|瘫痪|宕机|挂了|崩了|崩溃|起不来|断了|断网|"
    r"断开|白屏|黑屏|打不开|用不了|不能用|没法用|保存不了|无法保存|结不了|收不了|"
    r"挂不了号|失败|报错|出不来|停了|中断|异常"
)
#: Failures that are an outage on their own when they hit a shared system.
_SEVERE = re.compile(r"宕机|瘫痪|断电|停电|起不来|挂了|崩了|崩溃|断网|网断了|机房")
_SHARED_SYSTEM = re.compile(
    r"服务器|数据库|his|lis|pacs|emr|机房|网络|医保中心|医保(接口|系统)|中间件|集成平台|存储|"
    r"ora-0?(0257|3113|3114|1034|1089|27101|12537|12541|12514|12528|12170|1033)"
)
#: Database errors that mean the instance itself is unavailable (not one user's SQL).
_DB_DOWN = re.compile(r"ora-0?(0257|3113|3114|1034|1089|27101|1033)")
_URGENCY = re.compile(
    r"紧急|急急|十万火急|(?<!诊)急(?!诊|性)|快来人|马上|赶紧|排长队|在闹|等着|救命"
)


@dataclass(frozen=True)
class OutageSignal:
    is_outage: bool
    reason: str


def detect_outage(text: str) -> OutageSignal:
    """Classify a message as an outage report (or not), with the rule that fired."""
    t = normalise(text)
    breadth = _BREADTH.search(t)
    failure = _FAILURE.search(t)
    if breadth and failure:
        return OutageSignal(True, f"breadth '{breadth.group(0)}' + failure '{failure.group(0)}'")
    severe = _SEVERE.search(t)
    system = _SHARED_SYSTEM.search(t)
    if severe and system:
        return OutageSignal(True, f"severe '{severe.group(0)}' on '{system.group(0)}'")
    db_down = _DB_DOWN.search(t)
    if db_down and (breadth or _URGENCY.search(t) or failure):
        return OutageSignal(True, f"database unavailable ({db_down.group(0)})")
    return OutageSignal(False, "")


def is_marked_urgent(text: str) -> bool:
    """The user says it is urgent (紧急, 急急急 …); not an outage by itself, but raises priority."""
    return _URGENCY.search(normalise(text)) is not None
