"""A detector's finding, and how findings are ranked when they overlap."""

from __future__ import annotations

from typing import Literal, NamedTuple

PiiKind = Literal["id_card", "mobile", "phone", "medical_record", "bank_card", "name"]

MASKS: dict[PiiKind, str] = {
    "id_card": "[身份证号]",
    "mobile": "[手机号]",
    "phone": "[电话]",
    "bank_card": "[银行卡号]",
    "name": "[姓名]",
}  # a medical_record value is masked with its label's name, see labels.RECORD_LABELS

# Where overlapping hits start together, the lowest rank names the span. A label is the
# writer's own word for the value. A valid ID beats a Luhn match. An ID with a wrong check
# digit loses to an 18-digit card that passes Luhn. A number after 电话 is a mobile if it is one.
RANK_LABEL, RANK_ID, RANK_MOBILE, RANK_CARD, RANK_ID_TYPO, RANK_PHONE_LABEL = range(6)


class Hit(NamedTuple):
    start: int
    end: int
    rank: int
    kind: PiiKind
    mask: str
