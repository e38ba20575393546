"""intents.rules: outages read by their reach — a group's failure told plainly, an outage
announced while it is mended, still down after the time promised — and what is none of these."""

from __future__ import annotations

import pytest

from intents.message_class import MessageClass
from intents.rules import exact_rule


def reason(text: str) -> str | None:
    rule = exact_rule(text)
    return rule[1] if rule is not None and rule[0] is MessageClass.OUTAGE else None


GROUP = "a group's failure told"
MENDED = "an outage being mended"
PROMISED = "still down after the time promised"


@pytest.mark.parametrize(
    ("read_as", "text"),
    [(GROUP, "住院医生站集体掉线"),
     (GROUP, "三到六楼的病区全部断网"),
     (GROUP, "所有收费窗口打印发票都报错"),
     (GROUP, "整层的电脑连不上服务器，护士站没法用"),
     (GROUP, "好几个科室同时闪退，医生站进不去"),
     # planned work that went wrong is no announcement
     (GROUP, "上午10点机房切换失败，全院网络到现在还没恢复"),
     (MENDED, "各位：手麻系统数据库异常，目前术中记录无法保存，工程师正在抢修，请先纸质记录"),
     (MENDED, "信息科：EMR服务无法访问，原因排查中，请先手写病程"),
     (MENDED, "核心交换机故障，门诊医生站暂不可用，恢复时间待定"),
     (MENDED, "今晚切换失败，HIS和LIS接口中断，工程师正在回滚"),
     # the vendor's own voice (我方), a slow system, a service restarted
     (MENDED, "【厂家】目前电子病历服务器异常，我方正在重启服务，请暂停操作"),
     (MENDED, "信息科：当前LIS访问缓慢，工程师正在处理，急查请电话联系"),
     (PROMISED, "说好九点恢复，现在十点了挂号还是打不开"),
     (PROMISED, "公告说维护到6点，都7点了LIS还不能审核"),
     (PROMISED, "厂家承诺中午12点修好，现在下午两点了医保仍然结算不了"),
     # promised without a clock time
     (PROMISED, "厂家说二十分钟，这都一个小时了，收费还是进不去"),
     (PROMISED, "承诺的上午修好，都下午了叫号屏还是黑的")],
)  # fmt: skip
def test_each_reading_pages_what_it_reads(read_as: str, text: str) -> None:
    assert reason(text) == read_as, text


@pytest.mark.parametrize(
    "text",
    [# planned work ahead, its window, what to do during it
     "明晚22点到24点核心交换机更换，期间全院网络中断，请提前保存",
     "周六全天门诊楼停电检修，所有系统停用，请各科知悉",
     "今天下午门诊楼停电检修约两小时，所有电脑无法使用",
     # the past, a report, an explanation
     "昨晚全院断网是光模块坏了，已更换",
     "本月全院共发生网络中断两次，累计40分钟",
     "上午各病区PDA掉线的问题已于11点处理完毕",
     # one user's, a question, an idiom of 整个, a warning
     "所有病人的单子我这台都打印报错，别的电脑好像可以",
     "全院都断网了吗？",
     "上次全院断网的事故报告写完了没",
     "各位注意：5号诊室电脑蓝屏了，正在重启",
     "整个人都崩溃了，打印机卡纸",
     "近期勒索病毒活跃，发现异常请立即断网，所有电脑勿插U盘",
     # someone else's platform, forwarded, or one user's after the work
     "省医保平台故障，全省医保结算暂停，正在抢修",
     "【转发】市卫健委：区域平台数据上报中断，恢复时间另行通知",
     "工程师正在处理中，但我这台的HIS还是报错",
     # an outage announced that is over
     "HIS刚才宕机，已恢复正常，工程师正在查原因",
     # a promise not yet passed, or kept
     "说好十点恢复，现在九点半，再等等"],
)  # fmt: skip
def test_what_is_none_of_the_three(text: str) -> None:
    assert reason(text) is None, (text, exact_rule(text))
