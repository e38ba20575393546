"""The words the exact rules (``intents.rules``) and the outage readings
(``intents.outage_readings``) share (both read a message without its mentions:
``intents.addressing.unaddressed``).

One place for them, so that a word added to a scope or to a way of being down means the same
in every rule that reads it. Patterns match ``visible`` text (lower case, half-width
punctuation); plain strings are pieces other patterns are built from.
"""

from __future__ import annotations

import re

#: What the sender says they got wrong themselves (「是我输错了」, 「是我读卡器没插好」): read by the
#: retraction and by a report that corrects itself to its sender.
OWN_SLIP = r"没插|输错|弄错|点错|搞错|没开|没连"
#: fraud or malware: the security-warning rule's words, and no group's failure told with them
ATTACK = re.compile(r"冒充|诈骗|钓鱼|勒索|木马|病毒|陌生(?:链接|电话|u盘)")
#: planned work's words: a clock time with one is a window, not a failure's start
MAINTENANCE = re.compile(r"升级|维护|割接|迁移|停机|演练|切换")
#: a failure's reach beyond one user: the whole hospital, every department, a building
GROUP_SCOPE = re.compile(
    r"全院|全部|所有|各科|整个|多个科室|各病区|大面积|院区|各系统|均受影响"
    r"|各(?:诊区|楼层|科室|护理单元|收费处|诊室|病房)|门诊楼|住院楼|全楼|整栋"
)
#: the ways of being down that the outage rules and readings share
DOWN_WORD = re.compile(
    r"无法|(?<!能)不能|起不来|用不了|打不开|登不上|登录不了|进不去|卡死|瘫|中断|停了|挂了|崩|故障|停电"
    r"|不可用|运行异常"
)
#: what makes a failure told with a scope not one down now: a restoration, a plan, a
#: self-correction, the past, a question whether it is so
NOT_DOWN_NOW_AFTER_ALL = re.compile(
    r"(?<![未没])恢复(?!时间|后)|(?<![未没])修复|(?<![不无法能])正常|好了|将|计划|届时|预计.{0,6}(开始|进行)"
    r"|演练|如果|若|"
    r"一旦|"
    r"刚才(还)?说|结果发现|其实|上周|上个月|那期间|昨天.{0,6}停|是不是|吗[？?]?$"
)
#: a day or a window ahead: planned work announced, not a failure now
DAY_AHEAD = (
    r"(?:明天|明早|明晚|明日|今晚|今夜|后天|下周|本周[一二三四五六日末]|周[一二三四五六日末]"
    r"|星期[一二三四五六日天]|\d{1,2}月\d{1,2}[日号])"
)
WINDOW = r"\d{1,2}(?:[:：]\d{2}|点半?)?\s*[-~～至到]\s*\d{1,2}(?:[:：]\d{2}|点半?)"
#: the maintenance words of the down-now rule, and the other works a window is announced for
PLANNED_WORK = rf"(?:{MAINTENANCE.pattern}|检修|停用|停电|断网|更换|备份|巡检)"
#: a group, or a system or desk many share
GROUP_OR_SHARED_SYSTEM = re.compile(
    GROUP_SCOPE.pattern + r"|收费|窗口|his|lis|pacs|emr|医保|yb|sf|药房|检验科|影像科|护士站|全科"
)
#: the words that make a failure one machine's or one person's, shared by the outage readings
ONE_OF_THEM = r"这台|那台|一台|就我|单个|个别"
