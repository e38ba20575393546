"""intents.outage_readings: outages told again, told onward to the IT department, or felt by
many — and the one user's problems told in the same words, which stay questions."""

from __future__ import annotations

import pytest

from intents.outage_readings import outage_told_again_or_onward

AGAIN = "still down since it was reported"
ONWARD = "told onward to the IT department"
MANY = "felt by many"


@pytest.mark.parametrize(
    ("read_as", "text"),
    [(AGAIN, "早上报过的，病区医嘱还是推不到药房"),
     (AGAIN, "一个小时前说的LIS传不了，现在还是传不了"),
     (AGAIN, "兩個鐘頭了，叫號屏還黑著"),
     (AGAIN, "小程序预约还是挂着，从上午到现在了"),
     (AGAIN, "@小助手 上午说的挂号机故障，下午了还是出不了号"),
     (ONWARD, "检验科：LIS目前无法审核发布，已报信息科，临床暂时查不到结果"),
     (ONWARD, "医保办这边DRG上传都失败，已经联系厂商了"),
     (ONWARD, "我们科CA签名都签不了，已经给信息科说了"),
     (MANY, "微信公众号缴费失败 好多家长打电话来问"),
     (MANY, "取药叫号屏黑了，药房外头挤满人"),
     (MANY, "扫码付款用不了，排队的越来越多"),
     # study 2: started earlier, the morning's problem named again, a follow-up's opening
     (AGAIN, "昨天下午断的分院网络今天还没通"),
     (AGAIN, "早上那个手麻系统的问题还在，第二台手术还在等"),
     (AGAIN, "还没好，疫苗门诊还在手工登记"),
     (ONWARD, "体检中心系统打不开，报给信息科了还没回"),
     (MANY, "sf卡死 队越排越长"),
     (MANY, "电话不停 家长说公众号查不到报告")],
)  # fmt: skip
def test_each_reading_pages_what_it_reads(read_as: str, text: str) -> None:
    assert outage_told_again_or_onward(text) == read_as, text


@pytest.mark.parametrize(
    "text",
    [# one user's, one desk's, one patient's, told again
     "上午说的那个打印问题，重启后还是不行",
     "之前说的问题还在，我这边还是打不开检验单",
     "早上报的3号自助机还是吞卡",
     "昨天报的那张发票还是作废不了",
     "昨天说的那个医嘱还是停不掉",
     "收费2号窗口HIS卡死了，队伍越排越长",
     # told onward, but one user's, a question, or over
     "我的账号被锁了，报给信息科了，要等多久",
     "已经报了IT，这台电脑还是黑屏",
     "交班：有个病人的长期医嘱系统里停不掉，已经报了信息科",
     "检验科周老师 危急值电脑没声音 已经报信息科了 你们先打电话通知吧",
     "LIS已经好了，信息科已经处理完了",
     # a queue at one desk, callers about something that is no failure
     "收费5号窗口的扫码枪没反应，后面排了一堆人",
     "上午发的停诊短信是群发给所有患者的吗？好多人打电话问是不是真停诊",
     "我们系统上写着已经报上去了，可是到国家那个网站去查又查不到",
     # no failure at all
     "好的，已经报给信息科了，等着吧",
     "候诊区好多家长在问几点开诊"],
)  # fmt: skip
def test_one_users_problems_questions_and_talk_are_none_of_them(text: str) -> None:
    assert outage_told_again_or_onward(text) is None, text
