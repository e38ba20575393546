"""A worker follows KB edits saved through another worker: when the articles' versions or
retirements change in the database, its index is rebuilt (only the edited article embedded)
and swapped in; nothing changes while the KB does not."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from bot.cluster.kb_follow import KbFollower
from bot.config import Settings
from bot.gateway import Database
from bot.kb_import import import_kb
from bot.knowledge import view_recipe
from intents.decide import AnswerEngine
from intents.settings import DecideSettings
from kb_index.index import SearchIndex
from kb_index.store import load_articles, retire_article, save_article
from tests.conftest import SAMPLE_KB, HashEmbedder


async def test_an_edit_and_a_retirement_elsewhere_reach_this_index(
    engine: Engine, tmp_path: Path
) -> None:
    import_kb(engine, Path(SAMPLE_KB))
    embedder = HashEmbedder()
    recipe = view_recipe(Settings(base_dir=tmp_path))
    index, _ = SearchIndex.build(load_articles(engine), embedder, recipe)
    answers = AnswerEngine(index, embedder, DecideSettings())
    db = Database(engine)
    follower = KbFollower(db, answers, recipe)
    try:
        assert not await follower.check()  # the first look notes the state
        assert not await follower.check()
        # another worker saves an edit of hb-002 and retires hb-003
        hb002 = next(a for a in load_articles(engine) if a.id == "hb-002")
        with Session(engine) as s:
            save_article(
                s, dataclasses.replace(hb002, title="医保结算2304：总额与明细不一致"), "web"
            )
            retire_article(s, "hb-003", "e01", "合并到 hb-002")
            s.commit()
        embedded_before = embedder.embedded
        assert await follower.check()
        entry = answers.index.get("hb-002")
        assert entry is not None and entry.title == "医保结算2304：总额与明细不一致"
        assert answers.index.get("hb-003") is None
        assert embedder.embedded > embedded_before  # hb-002's views, re-embedded
        assert len(embedder.passage_calls[-1]) < 10  # ... and nothing else
        assert not await follower.check()
    finally:
        db.close()
