"""BM25 over character n-grams and exact Latin tokens, as an inverted index in numpy arrays.

Stored as flat arrays (term → postings slice) so it persists with ``numpy.savez`` and loads in
milliseconds even for ten thousand articles.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kb_index.text import content_bigrams, lexical_terms

K1 = 1.2
B = 0.75


@dataclass(frozen=True)
class LexicalScores:
    """Per-document scores for one query."""

    bm25: npt.NDArray[np.float32]
    #: Share of the query's IDF mass found in each document (0..1): comparable across queries.
    coverage: npt.NDArray[np.float32]
    #: Share of the query's content bigrams (no stop character) found in each document.
    bigram_share: npt.NDArray[np.float32] | None = None
    #: Share of the query's content bigrams that no document contains: what the KB cannot
    #: explain at all (one number per query).
    novel_share: float = 0.0


class LexicalIndex:
    def __init__(
        self,
        vocab: dict[str, int],
        postings_start: npt.NDArray[np.int64],
        postings_doc: npt.NDArray[np.int32],
        postings_tf: npt.NDArray[np.float32],
        doc_len: npt.NDArray[np.float32],
    ) -> None:
        self.vocab = vocab
        self.postings_start = postings_start
        self.postings_doc = postings_doc
        self.postings_tf = postings_tf
        self.doc_len = doc_len
        n = len(doc_len)
        df = np.diff(postings_start).astype(np.float64)
        self.idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        self.avg_len = float(doc_len.mean()) if n else 1.0

    @property
    def size(self) -> int:
        return len(self.doc_len)

    @classmethod
    def build(cls, docs: Iterable[Sequence[str]]) -> LexicalIndex:
        """Index documents given as term lists (see ``lexical_terms``), one at a time.

        Postings grow in compact int arrays rather than lists of tuples: a 10,000-article KB
        has millions of postings, and Python tuples would cost gigabytes while building.
        """
        postings: dict[str, tuple[array[int], array[int]]] = {}
        lengths = array("f")
        for d, terms in enumerate(docs):
            lengths.append(len(terms))
            for term, tf in Counter(terms).items():
                entry = postings.get(term)
                if entry is None:
                    entry = postings[term] = (array("i"), array("i"))
                entry[0].append(d)
                entry[1].append(tf)
        vocab: dict[str, int] = {}
        starts = np.zeros(len(postings) + 1, dtype=np.int64)
        total = sum(len(p[0]) for p in postings.values())
        doc_ids = np.empty(total, dtype=np.int32)
        tfs = np.empty(total, dtype=np.float32)
        pos = 0
        for i, (term, (ds, fs)) in enumerate(sorted(postings.items())):
            vocab[term] = i
            doc_ids[pos : pos + len(ds)] = np.frombuffer(ds, dtype=np.int32)
            tfs[pos : pos + len(fs)] = np.frombuffer(fs, dtype=np.int32)
            pos += len(ds)
            starts[i + 1] = pos
        return cls(vocab, starts, doc_ids, tfs, np.frombuffer(lengths, dtype=np.float32).copy())

    def contains(self, term: str, doc: int) -> bool:
        """Does document ``doc`` contain ``term`` (a ``lexical_terms`` term)? Postings are in
        document order, so this is one binary search."""
        tid = self.vocab.get(term)
        if tid is None:
            return False
        docs = self.postings_doc[self.postings_start[tid] : self.postings_start[tid + 1]]
        i = int(np.searchsorted(docs, doc))
        return i < len(docs) and int(docs[i]) == doc

    def score(self, query: str) -> LexicalScores:
        return self.score_terms(lexical_terms(query))

    def score_terms(self, terms: Sequence[str]) -> LexicalScores:
        n = self.size
        bm25 = np.zeros(n, dtype=np.float32)
        matched = np.zeros(n, dtype=np.float32)
        total = 0.0
        norm = K1 * (1 - B + B * self.doc_len / max(self.avg_len, 1e-6))
        for term, qtf in Counter(terms).items():
            tid = self.vocab.get(term)
            # a term absent from the KB still counts in the query's mass: it is unexplained
            idf = float(self.idf[tid]) if tid is not None else math.log(1.0 + (n + 0.5) / 0.5)
            weight = idf * _kind_weight(term)
            total += weight * qtf
            if tid is None:
                continue
            s, e = self.postings_start[tid], self.postings_start[tid + 1]
            docs = self.postings_doc[s:e]
            tf = self.postings_tf[s:e]
            bm25[docs] += weight * qtf * tf * (K1 + 1) / (tf + norm[docs])
            matched[docs] += weight * qtf
        coverage = matched / total if total > 0 else matched
        bigrams = content_bigrams(terms)
        share = np.zeros(n, dtype=np.float32)
        novel = 0
        for term in bigrams:
            tid = self.vocab.get(term)
            if tid is None:
                novel += 1
                continue
            s, e = self.postings_start[tid], self.postings_start[tid + 1]
            share[self.postings_doc[s:e]] += 1.0
        if bigrams:
            share /= len(bigrams)
        return LexicalScores(
            bm25=bm25,
            coverage=coverage.astype(np.float32),
            bigram_share=share,
            novel_share=novel / len(bigrams) if bigrams else 0.0,
        )

    def save(self, path: Path) -> None:
        terms = np.array(sorted(self.vocab, key=self.vocab.__getitem__), dtype=object)
        with path.open("wb") as fh:
            np.savez(
                fh,
                terms=np.asarray(terms.astype(str)),
                postings_start=self.postings_start,
                postings_doc=self.postings_doc,
                postings_tf=self.postings_tf,
                doc_len=self.doc_len,
            )

    @classmethod
    def load(cls, path: Path) -> LexicalIndex:
        with np.load(path, allow_pickle=False) as z:
            terms = [str(t) for t in z["terms"]]
            return cls(
                {t: i for i, t in enumerate(terms)},
                z["postings_start"],
                z["postings_doc"],
                z["postings_tf"],
                z["doc_len"],
            )


def _kind_weight(term: str) -> float:
    """Exact Latin tokens (error codes, transaction numbers) and bigrams say more than a char."""
    if term.startswith("w:"):
        return 2.0
    if term.startswith("b:"):
        return 1.0
    return 0.5
