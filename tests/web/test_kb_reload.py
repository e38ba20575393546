"""A running bot picks up ``hisbot kb import`` / ``kb build`` made from a shell (another
process) without a restart: ``LiveKnowledge.sync`` is the trigger ``KbReload`` pulls every
``[kb] reload_seconds``; here the test pulls it, so nothing waits on a clock."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from bot.kb.importing import import_kb
from bot.kb.knowledge import build_index, embedder_for
from tests.web.conftest import REPO, WebEnv

NEW_ARTICLE = """+++
id = "hb-901"
title = "门诊发票打印机卡纸后发票号跳号"
category = "usage"
module = "门诊收费"
tags = ["发票", "卡纸", "跳号"]
questions = ["发票打印机卡纸以后发票号对不上了"]
updated = "2026-11-02"
+++
## 现象
门诊收费处打印发票时打印机卡纸，重新打印后系统发票号比纸质发票多跳了一张。

## 原因
卡纸时系统已把该张发票号记为已用。

## 处理步骤
1. 在收费系统的发票管理里把卡纸那张发票号作废，作废原因选“打印失败”。
2. 核对下一张纸质发票号与系统当前发票号一致后继续收费。

## 注意
作废的纸质发票要留存，月底交财务核对。
"""


def write_kb(folder: Path, *extra: tuple[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in extra:
        (folder / name).write_text(text, encoding="utf-8")
    return folder


async def test_an_import_from_the_shell_is_answered_without_a_restart(
    web: WebEnv, tmp_path: Path
) -> None:
    knowledge = web.app.knowledge
    engine = web.app.services.engine
    assert knowledge is not None and web.app.kb_reload is not None  # on by default
    db = web.app.db
    assert db is not None
    assert await knowledge.sync() == "current"  # nothing changed since the start
    before = engine.index

    # `hisbot kb import` alone (no build): the running bot embeds the new article itself
    folder = write_kb(tmp_path / "kb", ("hb-901.md", NEW_ARTICLE))
    await asyncio.to_thread(import_kb, db, folder)
    assert engine.index.get("hb-901") is None  # not until the watch looks
    assert await knowledge.sync() == "rebuilt"
    assert engine.index is not before and engine.index.get("hb-901") is not None
    top = engine.rank("发票打印机卡纸以后发票号对不上了", k=1)
    assert top[0].hit.article.id == "hb-901"
    assert await knowledge.sync() == "current"  # once

    # `hisbot kb import` + `hisbot kb build` (another process persists the index): swapped in,
    # nothing embedded here
    changed = NEW_ARTICLE.replace("发票号跳号", "发票号跳号（作废处理）")
    write_kb(folder, ("hb-901.md", changed))
    settings = web.settings

    def cli_import_and_build() -> None:
        import_kb(db, folder)
        build_index(settings, db, embedder_for(settings))

    await asyncio.to_thread(cli_import_and_build)
    assert await knowledge.sync() == "loaded"
    entry = engine.index.get("hb-901")
    assert entry is not None and entry.title.endswith("（作废处理）")

    # a console edit in this process and the watch do not fight: the edit leaves nothing to do
    article = web.app.services.article("hb-901")
    assert article is not None
    edited = dataclasses.replace(article, title="门诊发票卡纸跳号")
    saved = await knowledge.save(edited, "e01", based_on=2)
    assert saved.outcome == "updated" and saved.embedded == 1
    assert await knowledge.sync() == "current"


async def test_the_watch_runs_with_the_app_and_can_be_turned_off(
    web: WebEnv, tmp_path: Path
) -> None:
    watch = web.app.kb_reload
    assert watch is not None and watch._task is not None and not watch._task.done()
    await watch.stop()  # stops at once, not after its interval
    assert watch._task is None
    from bot.infra.config import ConfigError, load_settings

    config = tmp_path / "off.toml"
    config.write_text(f'[kb]\ndir = "{REPO / "kb"}"\nreload_seconds = 0\n', encoding="utf-8")
    assert load_settings(config).kb.reload_seconds == 0
    config.write_text("[kb]\nreload_seconds = -1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="reload_seconds"):
        load_settings(config)
