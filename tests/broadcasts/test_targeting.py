"""Who receives a notice: filters, the preview, and that the preview is what gets sent."""

from __future__ import annotations

import pytest

from bot.broadcasts import Broadcasts, BroadcastStore, NoticeInvalid, Targets
from bot.broadcasts.status import preview_text
from tests.broadcasts.conftest import BROADCASTER, FakeTransport, patch_draft, send_now


def reach(store: BroadcastStore, targets: Targets) -> list[tuple[str, str, str]]:
    notice = store.create(patch_draft(targets), BROADCASTER)
    assert notice.id is not None
    return [(g.hospital_id, g.platform, g.chat_id) for g in store.preview(notice.id).groups]


@pytest.mark.parametrize(
    ("targets", "hospitals"),
    [
        ("all", {"h001", "h002", "h003"}),
        ("region=华东", {"h001", "h003"}),
        ("region=华东,华南", {"h001", "h002", "h003"}),
        ("his=5.2.*", {"h001", "h003"}),
        ("his=4.8", {"h002"}),
        ("module=LIS", {"h003"}),
        ("module=门诊", {"h001", "h002"}),
        ("hospital=h002,h003", {"h002", "h003"}),
        ("region=华东 module=住院 hospital=h001", {"h001"}),
        ("地区=华东；模块=LIS", {"h003"}),
        ("region=华北", set()),  # h004 matches but has no chat
    ],
)
def test_filters(store: BroadcastStore, targets: str, hospitals: set[str]) -> None:
    assert {h for h, _, _ in reach(store, Targets.parse(targets))} == hospitals


def test_preview_lists_every_group_on_every_platform_and_only_active_ones(
    store: BroadcastStore,
) -> None:
    notice = store.create(patch_draft(Targets(everyone=True)), BROADCASTER)
    assert notice.id is not None
    res = store.preview(notice.id)
    assert [(g.platform, g.chat_id) for g in res.groups] == [
        ("slack", "C001"),
        ("telegram", "-1001001"),
        ("telegram", "-1001002"),
        ("telegram", "-1001003"),
    ]  # -1001013 (h003's old group) was deactivated
    assert res.per_platform() == {"slack": 1, "telegram": 3}
    assert [h.id for h in res.unreachable] == ["h004"]
    text = preview_text(notice, "全部医院", res)
    assert "4 个群（slack 1，telegram 3），3 家医院" in text
    assert "telegram:-1001003  h003 妇幼保健院" in text
    assert "h004 骨科医院" in text  # said to be unreachable


async def test_what_is_sent_is_exactly_the_preview(
    bc: Broadcasts, transport: FakeTransport
) -> None:
    notice = bc.store.create(patch_draft(Targets.parse("region=华东")), BROADCASTER)
    assert notice.id is not None
    preview = {(g.platform, g.chat_id) for g in bc.store.preview(notice.id).groups}
    await send_now(bc, notice.id)
    assert {(s.ref.platform, s.ref.chat_id) for s in transport.sent[1:]} == preview
    assert len(transport.sent) == 1 + len(preview)  # the test copy, then one per group


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "say who receives it"),
        ("colour=red", "is not 'region=…'"),
        ("all region=华东", "is not 'region=…'"),
    ],
)
def test_bad_targets(text: str, error: str) -> None:
    with pytest.raises(NoticeInvalid, match=error):
        Targets.parse(text)


def test_all_cannot_be_combined_and_unknown_hospitals_are_refused(store: BroadcastStore) -> None:
    with pytest.raises(NoticeInvalid, match="cannot be combined"):
        Targets(everyone=True, regions=("华东",))
    with pytest.raises(NoticeInvalid, match="no hospital h999"):
        store.create(patch_draft(Targets(hospitals=("h001", "h999"))), BROADCASTER)
