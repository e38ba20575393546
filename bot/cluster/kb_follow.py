"""Keep this worker's search index in step with KB changes saved through another worker.

Each worker loads the index at start and answers from memory. A KB edit, retirement or
restore saved on the console re-indexes the worker that served the page at once
(``bot.kb_editing``); the others — among them the one polling Telegram — look at the KB's
state in the database every ``interval`` seconds and, when it changed, rebuild their index
(reusing every unchanged article's vectors: only the edited one is embedded) and swap it in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import Engine, text
from sqlmodel import Session

from bot.gateway import Database
from intents.decide import AnswerEngine
from kb_index.index import SearchIndex, ViewRecipe
from kb_index.store import load_articles

log = logging.getLogger(__name__)

#: Seconds between two looks at the KB's state (a worker that did not serve the edit answers
#: with it within this).
FOLLOW_SECONDS = 10.0


def kb_state(engine: Engine) -> int:
    """A digest of every article's id, version and whether it is retired."""
    with Session(engine) as s:
        rows = s.execute(
            text("SELECT id, version, retired_at IS NULL FROM kb_article ORDER BY id")
        ).all()
    return hash(tuple(tuple(r) for r in rows))


class KbFollower:
    def __init__(
        self,
        db: Database,
        engine: AnswerEngine,
        recipe: ViewRecipe,
        interval: float = FOLLOW_SECONDS,
    ) -> None:
        self._db = db
        self._engine = engine
        self._recipe = recipe
        self._interval = interval
        self._seen: int | None = None
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> bool:
        """Rebuild and swap the index if the KB changed since the last look; True when it
        did. The first look only notes the state (the index was just built from it)."""
        state = await self._db.read(lambda: kb_state(self._db.engine))
        if state == self._seen:
            return False
        first, self._seen = self._seen is None, state
        if first:
            return False
        index, embedded = await asyncio.to_thread(self._build)
        self._engine.index = index
        log.info("KB changed in the database: index rebuilt (%d article(s) embedded)", embedded)
        return True

    def _build(self) -> tuple[SearchIndex, int]:
        return SearchIndex.build(
            load_articles(self._db.engine),
            self._engine.embedder,
            self._recipe,
            previous=self._engine.index,
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kb-follow")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check()
            except Exception:  # the database may be away: the old index keeps answering
                log.exception("following the KB failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
