"""What kind of failure a message reports (intents.failure_kinds)."""

from __future__ import annotations

import pytest

from intents.failure_kinds import FAILURE_KINDS, reported_failures


@pytest.mark.parametrize(
    ("message", "kinds"),
    [
        ("夜班费统计表导出来打开全是乱码", ["乱码"]),
        ("接种证打印机一直卡纸", ["卡纸"]),
        ("村卫生室终端登录密码忘了 怎么重置", ["忘了密码"]),
        ("设备二维码标签打印机打出来是空白的", ["空白"]),
        ("红处方打印时内容往下偏了一行，打到格子外面去了", ["错位"]),
        ("资产标签打印机打出来的二维码太小 扫不上", ["看不清"]),
        ("ukey丢了 怎么补办", ["丢失补办"]),
        ("伦理跟踪审查报告的模板在哪下载", ["模板下载"]),
        ("自助机打出来的报告是别的病人的！！", ["串了病人"]),
        ("病人说扣了两次钱", ["重复收费"]),
        ("考勤机同步过来的打卡时间差了一个小时", ["时间不对"]),
        ("HIS一点开就闪退", ["闪退"]),
        ("Excel导出的表头下面一片白 而且全是乱码", ["乱码", "空白"]),
        # a contrast, a pasted error, a retry count, an amount: no failure of these kinds
        ("外省病人出院 别的病人都正常结账 就他一直报错", []),
        ("医保登记返回：该参保人有在院记录不能重复登记", []),
        ("打印控件未注册 重装了两遍都装不上", []),
        ("收费单上没有夜里多收的那个钱，是不是漏了", []),
        ("新电脑CA证书助手在哪里下载", []),
        ("医保结算报2304", []),
    ],
)
def test_the_failures_a_message_reports(message: str, kinds: list[str]) -> None:
    assert [k.name for k in reported_failures(message)] == kinds


def test_every_kind_names_words_an_article_would_use() -> None:
    for kind in FAILURE_KINDS:
        assert kind.article_words, kind.name
        # the words are looked up as written in an article: simplified, lower-case, no spaces
        assert all(w == w.lower() and w.strip() == w for w in kind.article_words)
