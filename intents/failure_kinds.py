"""The kind of failure a message reports, which the article it is matched with must mention.

The commonest confident wrong answer on a KB the engine was not fitted on is a near miss: the
right object, another failure. 「夜班费统计表导出来打开全是乱码」 lands on the article about that
export refusing to run, 「接种证打印机一直卡纸」 on the one about the certificate printing out of
its boxes: every similarity reads the object, and the object is the article's. What tells them
apart is a plain word — 乱码, 卡纸 — that the message says and the article never does. An article
can describe garbled text, a blank page, a paper jam, a forgotten password or a print out of
its boxes in many words, so each kind lists the words an article would use for it (generous on
purpose: the check only ever holds an answer back); the message side is narrow, so that only a
failure the user *reports* counts (「别的病人都正常」 is a contrast, not a report of one patient's
data shown for another).

General support Chinese, not any KB's words. Such a message is asked about
(「是这个问题吗？」), never answered, as with a how-to whose action the article never names
(``intents.confidence.asked_action``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class FailureKind:
    #: What the bot says it noticed (logs, the decision's reason).
    name: str
    #: How a message reports this failure (on simplified, lower-cased text).
    reported: re.Pattern[str]
    #: Words any one of which shows that an article is about this failure.
    article_words: tuple[str, ...]


def _kind(name: str, reported: str, article_words: str) -> FailureKind:
    return FailureKind(name, re.compile(reported), tuple(article_words.split()))


FAILURE_KINDS: tuple[FailureKind, ...] = (
    _kind("乱码", r"乱码|问号|方框", "乱码 问号 方框 生僻字 字符集 编码 gbk utf 字库"),
    _kind(
        "空白",
        r"空白|白屏|黑屏|只有表头|一片白",
        "空白 白屏 黑屏 表头 无数据 没有数据 不显示 为空 空的 无内容",
    ),
    _kind(
        "错位",
        r"错位|偏移|往[上下左右]偏|偏了.{0,3}(?:行|格|厘米|毫米|一点)|跑到?格子外|出格|打歪|歪了|对不齐",
        "错位 偏移 偏 格子 出格 歪 对齐 边距 套打 位置 格式 排版",
    ),
    _kind("卡纸", r"卡纸|缺纸|走纸|夹纸", "卡纸 缺纸 走纸 夹纸 纸"),
    _kind("忘了密码", r"密码.{0,3}(?:忘|丢)|忘.{0,2}密码|(?:重置|找回).{0,2}密码", "密码"),
    _kind(
        "丢失补办",
        r"(?:ukey|u盾|key|卡|证|章|设备|手机|腕带)\S{0,2}(?:丢了|丢失|遗失)|补办",
        "丢 遗失 补办 挂失 补发 申领 注销",
    ),
    _kind(
        "闪退",
        r"闪退|崩溃|自动(?:关闭|退出)|死机|卡死|无响应",
        "闪退 崩溃 退出 关闭 死机 卡死 响应 卡住 结束 挂起 假死 停止 中断",
    ),
    _kind(
        "慢",
        r"很慢|太慢|变慢|慢得|转圈|卡顿",
        "慢 转圈 超时 卡 等待 耗时 性能 分钟 秒",
    ),
    _kind(
        "重复收费",
        r"重复(?:收|扣|计)(?:费|钱|了)|(?:扣|收)了两(?:次|遍|笔)|打了两(?:张|份|次)|多(?:扣|收)了",
        "重复 两次 两遍 多次 多扣 多收 两条 两张 两份 两笔",
    ),
    _kind(
        "看不清",
        r"太小|太淡|太浅|看不清|听不清|字小|声音小|声音太",
        "小 淡 浅 清 字号 字体 音量 声音 浓度 分辨率 尺寸 大小",
    ),
    _kind(
        "模板下载",
        r"模板.{0,4}(?:下载|在哪)|(?:下载|在哪).{0,6}模板|样表|字段要求|格式要求",
        "模板 样表 下载 字段",
    ),
    _kind(
        "时间不对",
        r"时间不对|时间.{0,3}(?:早了|晚了|差)|差了.{0,3}小时|日期.{0,3}不对",
        "时间 时钟 时区 日期 小时 早于 晚于",
    ),
    _kind(
        "串了病人",
        r"是别的(?:病人|患者|人)的|成了别人|串(?:了|号|床|人|单)|张冠李戴|不是这个病人|名字不是",
        "串 别的 其他 他人 上一 前一 张冠李戴 本人 该患者 不符 不一致 错",
    ),
)


def reported_failures(message: str) -> list[FailureKind]:
    """The kinds of failure ``message`` (simplified Chinese) reports, in table order."""
    text = message.lower()
    return [kind for kind in FAILURE_KINDS if kind.reported.search(text)]
