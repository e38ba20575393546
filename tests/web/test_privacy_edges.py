"""Bad input at the pipeline's edge (issue 13, items 17 and 19): a NUL byte is removed before
anything stores the message, and a huge message is cut before redaction, the decision and
storage."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from adapters.base import ChatRef, IncomingMessage, Sender
from intents.decide import Decision
from tests.web.conftest import WebEnv


def message(text: str, message_id: str = "m1") -> IncomingMessage:
    return IncomingMessage(
        chat=ChatRef("web", "h001"),
        message_id=message_id,
        sender=Sender("u1", "护士\x00小张"),
        text=text,
        sent_at=dt.datetime.now(dt.UTC),
    )


async def test_a_nul_byte_is_removed_at_the_edge_and_the_message_handled(web: WebEnv) -> None:
    web.app.services.registry.add_chat("web", "h001", "h001", title="web")
    await web.app.pipeline.on_message(message("手术麻醉系统的排班表\x00怎么导出到Excel？"))
    [ticket] = web.app.services.tickets.list_for_hospital("h001")
    assert ticket.question == "手术麻醉系统的排班表怎么导出到Excel？"
    assert ticket.reporter_name == "护士小张"


async def test_a_huge_message_is_cut_before_every_costly_step(web: WebEnv) -> None:
    web.app.services.registry.add_chat("web", "h001", "h001", title="web")
    limit = web.app.services.settings.max_message_chars
    masked: list[int] = []
    decided: list[int] = []
    gate = web.app.pipeline.gate
    web.app.pipeline.gate = dataclasses.replace(
        gate, mask=lambda text: masked.append(len(text)) or gate.mask(text)
    )
    engine = web.app.services.engine
    real_decide = engine.decide

    def decide(text: str, *context: Any) -> Decision:
        decided.append(len(text))
        return real_decide(text, *context)

    engine.decide = decide  # type: ignore[method-assign]
    try:
        await web.app.pipeline.on_message(message("手术麻醉系统的排班表怎么导出？" * 7000))
    finally:
        engine.decide = real_decide  # type: ignore[method-assign]
    bound = limit + len("…（消息过长，已截断）")
    assert masked and max(masked) <= bound
    assert decided and max(decided) <= bound
    [stored] = web.app.services.exchanges.thread("web", "h001", "m1")
    assert len(stored.question) <= bound and stored.question.endswith("已截断）")
