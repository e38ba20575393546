"""The category the bot proposes for a new ticket."""

from __future__ import annotations

import pytest

from bot.tickets import CATEGORIES, suggest_category


@pytest.mark.parametrize(
    ("nearest", "expected"),
    [
        (["lis", "lis", "pacs"], "lis"),
        (["pacs", "lis", "lis"], "lis"),  # majority beats nearness
        (["pacs", "lis"], "pacs"),  # a tie goes to the nearer article
        (["report", "insurance", "insurance", "report"], "report"),
        (["unknown", "usage", "unknown", "unknown"], "usage"),  # unknown ones do not vote
        ([], "consult"),
        (["nonsense"], "consult"),
    ],
)
def test_suggest_category(nearest: list[str], expected: str) -> None:
    assert suggest_category(nearest) == expected


def test_there_are_the_eleven_contract_categories() -> None:
    assert len(CATEGORIES) == 11 and "consult" in CATEGORIES
