"""The search index: faiss over article views plus a lexical BM25, persisted with a manifest.

Each article is embedded as several *views* (its title, each alternative question, and chunks of
its body) because users phrase a symptom, not an article: the best-matching view speaks for the
article. On disk an index is a versioned folder (``v-…``) named by the ``CURRENT`` file, which is
replaced atomically only after the new folder is complete — a crash mid-build leaves the old index
in place, never a half-written one.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from kb_index.articles import Article, section_text
from kb_index.embedder import Embedder, Vectors
from kb_index.lay_terms import LayTerms
from kb_index.lexical import LexicalIndex
from kb_index.text import STOP_CHARS, content_bigrams, lexical_terms, prepare_query

FORMAT_VERSION = 1
#: Bump when the code that cuts articles into views changes: vectors must then be recomputed.
VIEW_CODE_VERSION = 1

Progress = Callable[[int], None]


class IndexError_(RuntimeError):
    """The index is missing, unreadable, or was built with another model."""


class IndexMissing(IndexError_):
    pass


class IndexModelMismatch(IndexError_):
    pass


@dataclass(frozen=True)
class ArticleEntry:
    """What the index remembers of an article (enough to cite it without the database)."""

    id: str
    title: str
    category: str
    module: str
    content_hash: str


@dataclass(frozen=True)
class Hit:
    """One ranked article with the evidence behind its rank."""

    article: ArticleEntry
    score: float
    dense: float
    #: Best similarity to the article's title or one of its listed questions.
    dense_question: float
    bm25: float
    coverage: float
    #: Rank of this article in each retriever alone (0 = first): agreement is evidence.
    dense_rank: int = 0
    lexical_rank: int = 0
    # Evidence that does not grow with the KB's size (the verification features): a near miss
    # wins its neighbourhood clearly in a small KB, so margins alone read it as a sure hit.
    #: Similarity to the article's symptom (现象) view; -1 when it has none.
    dense_symptom: float = -1.0
    #: Standard score of ``dense`` among all articles for this message.
    dense_z: float = 0.0
    #: ``dense`` minus the best other article's (any module).
    dense_gap: float = 0.0
    #: ``dense`` minus the best other article's of the same module (``dense_gap`` when the
    #: article is alone in its module).
    module_gap: float = 0.0
    #: Share of the message's content bigrams that the article's full text contains.
    bigram_share: float = 0.0
    #: Share of the message's content bigrams that no article contains.
    novel_share: float = 0.0
    #: Share of the article title's content bigrams that the message (everyday words
    #: expanded) contains: does the message name what this article is about?
    title_share: float = 0.0


#: Kinds of view an article can be embedded as; ``ViewRecipe.kinds`` picks some of them.
VIEW_KINDS = ("title", "question", "symptom", "body")


@dataclass(frozen=True)
class ViewRecipe:
    """How articles are cut into embedded views. Part of the index's identity: changing it
    re-embeds everything."""

    kinds: tuple[str, ...] = ("title", "question", "symptom")
    chunk_chars: int = 240

    @property
    def key(self) -> str:
        return f"views={'+'.join(self.kinds)};chunk={self.chunk_chars}"


def article_views(article: Article, recipe: ViewRecipe) -> list[tuple[str, str]]:
    """(kind, text) pairs embedded for an article. The title is always embedded, so every
    article has at least one view."""
    views: list[tuple[str, str]] = [("title", article.title)]
    if "question" in recipe.kinds:
        views.extend(("question", q) for q in article.questions)
    if "symptom" in recipe.kinds:
        symptom = section_text(article.body, ("现象", "问题描述", "症状"))
        if symptom:
            views.append(("symptom", f"{article.title}：{symptom}"[: recipe.chunk_chars * 2]))
    if "body" in recipe.kinds:
        views.extend(("body", chunk) for chunk in _chunks(article.body, recipe.chunk_chars))
    return views


def _chunks(body: str, size: int) -> list[str]:
    """Paragraph-aligned chunks of about ``size`` characters (headings dropped)."""
    paras = [p.strip() for p in body.splitlines() if p.strip() and not p.lstrip().startswith("#")]
    out: list[str] = []
    cur = ""
    for p in paras:
        if cur and len(cur) + len(p) > size:
            out.append(cur)
            cur = ""
        cur = f"{cur}\n{p}" if cur else p
    if cur:
        out.append(cur)
    return out


def lexical_document(article: Article) -> list[str]:
    """Terms of an article for BM25; title and questions count twice: they are what users ask."""
    head = " ".join([article.title, *article.questions])
    tail = " ".join([article.module, *article.tags, article.body])
    return lexical_terms(head) * 2 + lexical_terms(tail)


class SearchIndex:
    def __init__(
        self,
        model_id: str,
        articles: list[ArticleEntry],
        faiss_index: Any,
        view_article: npt.NDArray[np.int32],
        view_kind: list[str],
        lexical: LexicalIndex,
    ) -> None:
        self.model_id = model_id
        self.articles = articles
        self.faiss_index = faiss_index
        self.view_article = view_article
        self.view_kind = view_kind
        self.lexical = lexical
        self._question_mask = np.array([k in ("title", "question") for k in view_kind], dtype=bool)
        self._symptom_mask = np.array([k == "symptom" for k in view_kind], dtype=bool)
        modules: dict[str, int] = {}
        self._module = np.array(
            [modules.setdefault(a.module, len(modules)) for a in articles], dtype=np.int32
        )
        self._by_id = {a.id: a for a in articles}
        self._doc = {a.id: i for i, a in enumerate(articles)}
        self._title_bigrams = [
            content_bigrams(lexical_terms(prepare_query(a.title))) for a in articles
        ]

    def __len__(self) -> int:
        return len(self.articles)

    def get(self, article_id: str) -> ArticleEntry | None:
        return self._by_id.get(article_id)

    def mentions(self, article_id: str, word: str) -> bool:
        """Does the article's text (title, questions, module, tags, body) name ``word``, a
        two-character Chinese word, or at least its first character? Lenient on purpose: it is
        asked to rule an article *out*."""
        doc = self._doc.get(article_id)
        if doc is None:
            return False
        if word[0] in STOP_CHARS:
            return True  # 给…, 把…: the index keeps no such character to look for
        terms = ("b:" + word, "c:" + word[0]) if len(word) >= 2 else ("c:" + word,)
        return any(self.lexical.contains(t, doc) for t in terms)

    # ---- building -------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        articles: Sequence[Article],
        embedder: Embedder,
        recipe: ViewRecipe | None = None,
        previous: SearchIndex | None = None,
        progress: Progress | None = None,
    ) -> tuple[SearchIndex, int]:
        """Build an index; vectors of articles unchanged since ``previous`` are reused.

        Returns the index and how many articles were (re-)embedded.
        """
        recipe = recipe or ViewRecipe()
        key = embedding_key(embedder.model_id, recipe)
        reusable: dict[str, tuple[str, Vectors]] = {}
        if previous is not None and previous.model_id == key:
            reusable = previous._vectors_by_article()
        entries: list[ArticleEntry] = []
        kinds: list[str] = []
        owners: list[int] = []
        blocks: list[Vectors] = []
        pending: list[tuple[int, list[str]]] = []
        embedded = 0
        for i, art in enumerate(articles):
            entries.append(
                ArticleEntry(art.id, art.title, art.category, art.module, art.content_hash)
            )
            views = article_views(art, recipe)
            kinds.extend(k for k, _ in views)
            owners.extend([i] * len(views))
            old = reusable.get(art.id)
            if old is not None and old[0] == art.content_hash and len(old[1]) == len(views):
                blocks.append(old[1])
                if progress:
                    progress(1)
            else:
                blocks.append(np.zeros((len(views), embedder.dim), dtype=np.float32))
                pending.append((i, [t for _, t in views]))
        # embed in batches across articles: far faster than one call per article
        batch: list[tuple[int, list[str]]] = []
        for item in pending:
            batch.append(item)
            if sum(len(t) for _, t in batch) >= 64:
                embedded += _embed_batch(batch, blocks, embedder, progress)
                batch = []
        if batch:
            embedded += _embed_batch(batch, blocks, embedder, progress)
        dim = embedder.dim
        matrix = np.vstack(blocks) if blocks else np.zeros((0, dim), dtype=np.float32)
        fx = faiss.IndexFlatIP(dim)
        if len(matrix):
            fx.add(np.ascontiguousarray(matrix, dtype=np.float32))
        lexical = LexicalIndex.build(lexical_document(a) for a in articles)
        index = cls(key, entries, fx, np.asarray(owners, dtype=np.int32), kinds, lexical)
        return index, embedded

    def _vectors_by_article(self) -> dict[str, tuple[str, Vectors]]:
        n = self.faiss_index.ntotal
        if n == 0:
            return {}
        matrix = self.faiss_index.reconstruct_n(0, n)
        out: dict[str, tuple[str, Vectors]] = {}
        for i, art in enumerate(self.articles):
            rows = np.flatnonzero(self.view_article == i)
            out[art.id] = (art.content_hash, matrix[rows])
        return out

    # ---- searching ------------------------------------------------------------------------

    def search(
        self,
        query: str,
        embedder: Embedder,
        k: int = 5,
        dense_weight: float = 0.5,
        lay_terms: LayTerms | None = None,
    ) -> list[Hit]:
        """Rank articles for a user message, best first."""
        return self.search_vector(
            query, embedder.embed_queries([prepare_query(query)])[0], k, dense_weight, lay_terms
        )

    def search_vector(
        self,
        query: str,
        qvec: Vectors,
        k: int = 5,
        dense_weight: float = 0.5,
        lay_terms: LayTerms | None = None,
    ) -> list[Hit]:
        """``lay_terms`` adds the technical words of everyday phrases to the lexical side only:
        expanding the embedded text too gave the same top-1 on two dev KBs, and the embedding
        of the user's own words stays what the classifier and the confidence stage saw."""
        n = len(self.articles)
        if n == 0:
            return []
        nviews = self.faiss_index.ntotal
        sims, rows = self.faiss_index.search(
            qvec.reshape(1, -1).astype(np.float32), min(nviews, 256)
        )
        dense = np.full(n, -1.0, dtype=np.float32)
        dense_q = np.full(n, -1.0, dtype=np.float32)
        dense_s = np.full(n, -1.0, dtype=np.float32)
        for sim, row in zip(sims[0], rows[0], strict=True):
            if row < 0:
                continue
            a = self.view_article[row]
            if sim > dense[a]:
                dense[a] = sim
            if self._question_mask[row] and sim > dense_q[a]:
                dense_q[a] = sim
            if self._symptom_mask[row] and sim > dense_s[a]:
                dense_s[a] = sim
        floor = float(np.min(sims[0])) if len(sims[0]) else 0.0
        dense[dense < -0.5] = floor
        dense_q[dense_q < -0.5] = floor
        lexical_query = prepare_query(query)
        if lay_terms is not None:
            lexical_query = lay_terms.expand(lexical_query)
        lex = self.lexical.score(lexical_query)
        fused = fuse(dense, lex.bm25, dense_weight)
        order = np.argsort(-fused, kind="stable")[:k]
        dense_rank = np.empty(n, dtype=np.int64)
        dense_rank[np.argsort(-dense, kind="stable")] = np.arange(n)
        lexical_rank = np.empty(n, dtype=np.int64)
        lexical_rank[np.argsort(-lex.bm25, kind="stable")] = np.arange(n)
        spread = float(dense.std()) if n > 1 else 0.0
        mean = float(dense.mean())
        share = lex.bigram_share if lex.bigram_share is not None else np.zeros(n, np.float32)
        query_bigrams = content_bigrams(lexical_terms(lexical_query))
        return [
            Hit(
                article=self.articles[i],
                score=float(fused[i]),
                dense=float(dense[i]),
                dense_question=float(dense_q[i]),
                bm25=float(lex.bm25[i]),
                coverage=float(lex.coverage[i]),
                dense_rank=int(dense_rank[i]),
                lexical_rank=int(lexical_rank[i]),
                dense_symptom=float(dense_s[i]),
                dense_z=(float(dense[i]) - mean) / spread if spread > 1e-6 else 0.0,
                dense_gap=_gap(dense, i, None),
                module_gap=_gap(dense, i, self._module == self._module[i]),
                bigram_share=float(share[i]),
                novel_share=lex.novel_share,
                title_share=_share(self._title_bigrams[i], query_bigrams),
            )
            for i in order
        ]

    # ---- persistence ----------------------------------------------------------------------

    def save(self, root: Path) -> Path:
        """Write a new version folder, then point ``CURRENT`` at it atomically."""
        root.mkdir(parents=True, exist_ok=True)
        name = f"v-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        tmp = root / f".tmp-{name}"
        tmp.mkdir()
        try:
            faiss.write_index(self.faiss_index, str(tmp / "dense.faiss"))
            self.lexical.save(tmp / "lexical.npz")
            np.save(tmp / "view_article.npy", self.view_article)
            manifest = {
                "format": FORMAT_VERSION,
                "model_id": self.model_id,
                "dimensions": int(self.faiss_index.d),
                "views": len(self.view_kind),
                "view_kind": self.view_kind,
                "articles": [a.__dict__ for a in self.articles],
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            _write_atomic(tmp / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
            final = root / name
            os.replace(tmp, final)
            pointer = root / "CURRENT"
            previous = pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else ""
            _write_atomic(pointer, name + "\n")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _prune(root, keep=(name, previous))
        return final

    @classmethod
    def load(cls, root: Path, expected_model_id: str | None = None) -> SearchIndex:
        """Load the current version; a different embedding model is an error, not a mix."""
        pointer = root / "CURRENT"
        if not pointer.is_file():
            raise IndexMissing(f"no search index in {root}: run `hisbot kb build`")
        folder = root / pointer.read_text(encoding="utf-8").strip()
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            if manifest.get("format") != FORMAT_VERSION:
                raise IndexModelMismatch(
                    f"index in {folder} has format {manifest.get('format')}, expected {FORMAT_VERSION}: run `hisbot kb build`"
                )
            if expected_model_id is not None and manifest["model_id"] != expected_model_id:
                raise IndexModelMismatch(
                    f"index in {folder} was built with {manifest['model_id']}, but the configured "
                    f"model is {expected_model_id}: run `hisbot kb build` to rebuild it"
                )
            fx = faiss.read_index(str(folder / "dense.faiss"))
            lexical = LexicalIndex.load(folder / "lexical.npz")
            view_article = np.load(folder / "view_article.npy", allow_pickle=False)
            articles = [ArticleEntry(**a) for a in manifest["articles"]]
            consistent = (
                fx.ntotal == len(view_article) == len(manifest["view_kind"])
                and lexical.size == len(articles)
                and fx.d == manifest["dimensions"]
            )
            index = cls(
                manifest["model_id"],
                articles,
                fx,
                view_article.astype(np.int32),
                list(manifest["view_kind"]),
                lexical,
            )
        except IndexError_:
            raise
        except Exception as exc:  # any damage (truncated npz, wrong JSON shape …) means: rebuild
            raise IndexMissing(
                f"search index in {folder} is unreadable ({exc}): run `hisbot kb build`"
            ) from exc
        if not consistent:
            raise IndexMissing(f"search index in {folder} is inconsistent: run `hisbot kb build`")
        return index


def _prune(root: Path, keep: tuple[str, ...]) -> None:
    """Remove abandoned temp folders and every version but the live one and the one before it
    (a process that read the old ``CURRENT`` a moment ago may still be loading it)."""
    for path in root.iterdir():
        if path.is_dir() and path.name.startswith(("v-", ".tmp-")) and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def _gap(scores: npt.NDArray[np.float32], i: int, among: npt.NDArray[np.bool_] | None) -> float:
    """How far article ``i`` stands above the best other article (of ``among``, when that
    leaves any other; otherwise of all)."""
    others = np.ones(len(scores), dtype=bool) if among is None else among.copy()
    others[i] = False
    if not others.any():
        if among is None:
            return 0.0
        return _gap(scores, i, None)
    return float(scores[i] - scores[others].max())


def _share(part: set[str], whole: set[str]) -> float:
    """How much of ``part`` is in ``whole`` (0 when ``part`` is empty)."""
    return len(part & whole) / len(part) if part else 0.0


def embedding_key(model_id: str, recipe: ViewRecipe) -> str:
    """Everything that decides the vectors: the model and the way articles are cut into views."""
    return f"{model_id}|v{VIEW_CODE_VERSION};{recipe.key}"


def fuse(
    dense: npt.NDArray[np.float32], bm25: npt.NDArray[np.float32], dense_weight: float
) -> npt.NDArray[np.float32]:
    """Fused ranking score: dense similarity plus max-normalised BM25."""
    top = float(bm25.max()) if len(bm25) else 0.0
    lex = bm25 / top if top > 0 else bm25
    return (dense_weight * dense + (1.0 - dense_weight) * lex).astype(np.float32)


def _embed_batch(
    batch: list[tuple[int, list[str]]],
    blocks: list[Vectors],
    embedder: Embedder,
    progress: Progress | None,
) -> int:
    texts = [t for _, views in batch for t in views]
    vectors = embedder.embed_passages(texts)
    pos = 0
    for i, views in batch:
        blocks[i] = vectors[pos : pos + len(views)]
        pos += len(views)
    if progress:
        progress(len(batch))
    return len(batch)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
