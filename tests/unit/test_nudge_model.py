"""The learned nudge model (``bot/conversation/nudge_model.py``): the shipped file loads, reads
nudges the rules miss, and never takes a problem report or a question for one; a saved model
reads the same after loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.conversation.nudge_model import NudgeModel
from bot.conversation.phrases import is_me_too, is_nudge, tells_a_symptom


@pytest.fixture(scope="module")
def model() -> NudgeModel:
    return NudgeModel.load()


@pytest.mark.parametrize("text", ["还有人在跟这个问题吗", "有没有人能回个话"])
def test_it_reads_nudges_the_rules_miss(model: NudgeModel, text: str) -> None:
    assert not is_nudge(text) and model.says_nudge(text)


@pytest.mark.parametrize(
    "text",
    [
        "医保结算报2304，总额和明细对不上",
        "全院HIS都登不上了，急！",
        "好的谢谢",
        "新来的护士怎么开通HIS账号",
    ],
)
def test_questions_reports_and_thanks_are_not_nudges(model: NudgeModel, text: str) -> None:
    assert not model.says_nudge(text)


def test_a_report_it_might_read_as_a_nudge_tells_a_symptom() -> None:
    """The group asks the model only of messages that tell no symptom (``Group._says_nudge``)."""
    assert tells_a_symptom("目前门诊和急诊都无法登录 麻烦尽快处理一下")
    assert not tells_a_symptom("麻烦尽快处理一下") and not tells_a_symptom(
        "工单 HIS-0417 麻烦跟进一下"
    )


def test_probabilities_and_a_round_trip(model: NudgeModel, tmp_path: Path) -> None:
    p = model.probabilities("还要等多久啊")
    assert p.shape == (3,) and p.sum() == pytest.approx(1.0) and int(np.argmax(p)) == 1
    path = tmp_path / "nudges.npz"
    model.save(path)
    again = NudgeModel.load(path)
    assert again.threshold == model.threshold and again.bits == model.bits
    assert np.allclose(again.probabilities("进度怎么样了"), model.probabilities("进度怎么样了"))


@given(st.text(max_size=300))
@settings(derandomize=True, database=None, deadline=None, max_examples=200)
def test_any_text_is_read_without_error(model: NudgeModel, text: str) -> None:
    p = model.probabilities(text)
    assert p.shape == (3,) and abs(float(p.sum()) - 1.0) < 1e-9
    assert isinstance(is_nudge(text), bool) and isinstance(tells_a_symptom(text), bool)
    assert isinstance(is_me_too(text), bool)
