"""An upgrade (``bot.workflows``) linked to the notice that announced it: the hospital's
已升级 receipt shows beside the upgrade once pressed, and an unknown notice is refused."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from bot.broadcasts import Broadcasts
from bot.workflows import ServiceWorkflows, WorkflowNotFound
from tests.broadcasts.conftest import FakeClock, FakeTransport, press, pressed
from tests.broadcasts.test_receipts import sent_patch


async def test_an_upgrade_shows_its_notices_receipt(
    bc: Broadcasts, transport: FakeTransport, clock: FakeClock, engine: Engine
) -> None:
    flows = ServiceWorkflows.over(engine, ZoneInfo("Asia/Shanghai"), clock)
    notice_id = await sent_patch(bc)
    with pytest.raises(WorkflowNotFound):
        flows.upgrades.start("h001", "HIS", "5.2.4", "e01", notice_id + 100)
    upgrade = flows.upgrades.start("h001", "HIS", "5.2.4", "e01", notice_id)
    assert upgrade.from_version == "5.2.1"  # the registry's his_version, before any upgrade
    view = flows.upgrades.get(upgrade.id or 0)
    assert view.notice_title and view.applied_at is None
    tg = transport.to("-1001001")[0]
    applied = tg.reply.buttons[0][1].action
    clock.advance(hours=1)
    assert await pressed(bc, press("-1001001", tg.ref.message_id, applied, "7002", "信息科老陈"))
    view = flows.upgrades.get(upgrade.id or 0)
    assert view.applied_at == clock()
    # another hospital's upgrade is not settled by h001's receipt
    other = flows.upgrades.start("h002", "HIS", "5.2.4", "e01", notice_id)
    assert flows.upgrades.get(other.id or 0).applied_at is None
