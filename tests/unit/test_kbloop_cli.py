"""``hisbot kb eval --from-history`` and ``kb calibrate --from-history``: the questions
engineers labelled when resolving tickets, judged against the deployment's own KB."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from bot.infra.config import load_settings
from bot.infra.db import make_engine
from bot.kb.loop.labels import LabelStore
from bot.kb.loop.models import Verdict
from bot.registry.store import RegistryStore
from bot.tickets.store import TicketStore
from tests.unit.test_cli import Run, one_line_error, run, write_config

__all__ = ["run"]


def resolved_ticket(
    tickets: TicketStore,
    labels: LabelStore,
    n: int,
    hospital_id: str,
    question: str,
    category: str,
    resolution: str,
    verdict: Verdict,
    article: str | None = None,
) -> None:
    """A ticket opened, claimed and resolved by e01, then labelled."""
    t = tickets.open_ticket(
        hospital_id=hospital_id,
        reporter_platform="telegram",
        reporter_user_id="7001",
        reporter_name="护士",
        source_platform="telegram",
        source_chat_id="-1001",
        source_message_id=str(n),
        question=question,
        category=category,
    )
    tickets.claim(t.number, "e01")
    tickets.resolve(t.number, "e01", resolution)
    labels.record(t.number, verdict, article, "e01")


def labelled_history(config: Path, queries: Path, limit: int | None = None) -> list[dict]:
    """Tickets for the sample queries an engineer would have resolved and labelled: the FAQ
    ones with their article, the out-of-KB ones with 无需文章."""
    db = make_engine(load_settings(config).storage_url)
    registry = RegistryStore(db)
    registry.add_hospital("h001", "第一人民医院")
    registry.add_engineer("e01", "王工")
    tickets, labels = TicketStore(db), LabelStore(db)
    rows = [json.loads(line) for line in queries.read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if r["kind"] in ("faq", "out-of-kb")][:limit]
    for n, row in enumerate(rows):
        faq = row["kind"] == "faq"
        resolved_ticket(
            tickets, labels, n, "h001", row["query"], "consult", "已处理",
            Verdict.ARTICLE if faq else Verdict.NONE, row["expected"] if faq else None,
        )  # fmt: skip
    return rows


@pytest.fixture
def deployment(run: Run, tmp_path: Path, sample_kb_dir: Path) -> Path:
    config = write_config(tmp_path)
    code, _, err = run("--config", str(config), "kb", "import", str(sample_kb_dir))
    assert code == 0, err
    return config


def test_eval_from_history_reports_accuracy_and_wrong_answers(
    run: Run,
    deployment: Path,
    sample_queries_path: Path,
) -> None:
    rows = labelled_history(deployment, sample_queries_path)
    code, out, err = run("--config", str(deployment), "kb", "eval", "--from-history", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["queries"] == len(rows) == 33
    assert report["counts"]["faq"] == 25 and report["counts"]["out-of-kb"] == 8
    by_id = {q["id"]: q for q in report["per_query"]}
    assert len(by_id) == 33 and all(q["id"].startswith("20") for q in by_id.values())
    right = sum(
        q["decision"] == "answer" and q["article"] == q["expected"]
        for q in by_id.values()
        if q["kind"] == "faq"
    )
    wrong = sum(q["decision"] == "answer" and q["article"] != q["expected"] for q in by_id.values())
    assert report["faq_answer_accuracy"] == round(right / 25, 4) and right > 15
    assert report["wrong_answer_rate"] == round(wrong / 33, 4)

    code, out, err = run("--config", str(deployment), "kb", "eval", "--from-history")
    assert code == 0, err
    assert "33 labelled questions (25 with an article, 8 none / new article)" in err
    assert f"faq_answer_accuracy: {report['faq_answer_accuracy']}" in out
    assert f"wrong_answer_rate: {report['wrong_answer_rate']}" in out


def test_calibrate_from_history_prints_a_config_section(
    run: Run,
    deployment: Path,
    sample_queries_path: Path,
) -> None:
    labelled_history(deployment, sample_queries_path)
    code, out, err = run(
        "--config", str(deployment), "kb", "calibrate", "--from-history",
        "--out", str(deployment.parent / "site-verifier.npz"),
        "--max-wrong-rate", "0.1",  # 33 questions: the default 1.5 % allows no wrong answer
    )  # fmt: skip
    assert code == 0, err
    assert (deployment.parent / "site-verifier.npz").is_file()
    assert out.startswith("# from history: 33 labelled questions")
    assert "fitted on" in out and "from: history" in out and "5-fold held-out" in out
    fitted = tomllib.loads("\n".join(line for line in out.splitlines() if not line.startswith("#")))
    assert 0.0 <= fitted["decide"]["answer_threshold"] <= 1.0


def test_too_little_history_or_mixed_options_are_one_line_errors(
    run: Run,
    deployment: Path,
    sample_queries_path: Path,
    sample_kb_dir: Path,
) -> None:
    labelled_history(deployment, sample_queries_path, limit=5)
    code, _, err = run("--config", str(deployment), "kb", "eval", "--from-history")
    assert code == 2 and "only 5 labelled questions" in one_line_error(err)
    code, _, err = run(
        "--config", str(deployment), "kb", "calibrate", "--from-history", "--out", "v.npz"
    )  # fmt: skip
    assert code == 2 and "only 5 labelled questions" in one_line_error(err)
    code, _, err = run(
        "--config", str(deployment), "kb", "eval", "--from-history", "--kb", str(sample_kb_dir)
    )
    assert code == 2 and "no --kb/--queries/--loko" in one_line_error(err)
    code, _, err = run("--config", str(deployment), "kb", "eval", "--from-history", "--since", "0")
    assert code == 2 and "--since" in one_line_error(err)


WRISTBAND = [
    "腕带打印机打出来是空白的",
    "病人腕带打印出来一片空白",
    "护士站腕带打不出字，纸是白的",
    "住院腕带打印机出纸但是没有内容",
]


def test_problems_are_drafted_published_and_then_covered(
    run: Run, deployment: Path, tmp_path: Path
) -> None:
    db = make_engine(load_settings(deployment).storage_url)
    registry = RegistryStore(db)
    for h in ("h001", "h002", "h003"):
        registry.add_hospital(h, f"医院{h}")
    registry.add_engineer("e01", "王工")
    tickets, labels = TicketStore(db), LabelStore(db)
    for n, text in enumerate(WRISTBAND):
        resolved_ticket(
            tickets, labels, n, f"h00{n % 3 + 1}", text, "install",
            "原因：驱动设成了热转印。1. 打印方式改为热敏；2. 打印测试腕带。", Verdict.NEW,
        )  # fmt: skip
    drafts = tmp_path / "drafts"
    code, out, err = run(
        "--config", str(deployment), "kb", "problems", "--drafts", str(drafts), "--json"
    )
    assert code == 0, err
    [problem] = json.loads(out)["problems"]
    assert problem["coverage"] == "uncovered" and len(problem["questions"]) == 4
    assert problem["hospitals"] == ["h001", "h002", "h003"]
    [path] = json.loads(out)["drafts"]
    assert Path(path).parent == drafts and Path(path).name.startswith("draft-install-")

    code, out, err = run("--config", str(deployment), "kb", "problems")
    assert code == 0, err
    assert "本周新出现的常见问题" in out and "4 次，3 家医院" in out and "无文章，建议起草" in out
    assert "处理：原因：驱动设成了热转印" in out

    numbers = problem["tickets"]
    sidecar = Path(path).with_suffix(".tickets")
    assert [n for n in sidecar.read_text(encoding="utf-8").splitlines()[1:]] == numbers

    # the engineer publishes the draft (here unedited): the problem is covered from then on,
    # and its tickets' 需要新文章 labels name the new article (the history expects it)
    code, out, err = run("--config", str(deployment), "kb", "import", str(drafts))
    assert code == 0, err
    assert "1 added" in out
    assert f"labels: {Path(path).stem} now answers 4 of the 4 tickets in {sidecar.name}" in out
    for number in numbers:
        label = labels.get(number)
        assert label is not None and label.verdict == Verdict.ARTICLE
        assert label.article_id == Path(path).stem and label.labelled_by == "e01"
    # re-importing is a no-op: nothing added, no labels touched
    labels.record(numbers[0], Verdict.NONE, None, "e01")
    code, out, err = run("--config", str(deployment), "kb", "import", str(drafts))
    assert code == 0, err
    assert "0 added, 0 updated, 1 unchanged" in out and "labels:" not in out
    assert labels.get(numbers[0]).verdict == Verdict.NONE  # type: ignore[union-attr]
    code, out, err = run("--config", str(deployment), "kb", "problems", "--json")
    assert code == 0, err
    [problem] = json.loads(out)["problems"]
    assert problem["coverage"] == "covered" and problem["article"] == Path(path).stem


def wristband_drafts(run: Run, config: Path, drafts: Path) -> tuple[Path, list[str], LabelStore]:
    """Two resolved wristband tickets labelled 需要新文章, and their draft written to
    ``drafts``: the draft's path, its tickets, the label store."""
    db = make_engine(load_settings(config).storage_url)
    RegistryStore(db).add_hospital("h001", "第一人民医院")
    RegistryStore(db).add_engineer("e01", "王工")
    tickets, labels = TicketStore(db), LabelStore(db)
    for n, text in enumerate(WRISTBAND[:2]):
        resolved_ticket(
            tickets, labels, n, "h001", text, "install", "1. 打印方式改为热敏。", Verdict.NEW
        )
    code, out, err = run(
        "--config", str(config), "kb", "problems", "--drafts", str(drafts), "--json"
    )
    assert code == 0, err
    [path] = [Path(p) for p in json.loads(out)["drafts"]]
    [problem] = json.loads(out)["problems"]
    return path, problem["tickets"], labels


def test_draft_sidecars_survive_an_edited_id_and_report_bad_input(
    run: Run, deployment: Path, tmp_path: Path
) -> None:
    """The sidecar is paired by file name, so the engineer may give the draft a proper id and
    write numbers as the desk shows them (#2026-…); words that are not ticket numbers, or a
    sidecar without its article, are warnings and lose nothing else."""
    drafts = tmp_path / "drafts"
    path, numbers, labels = wristband_drafts(run, deployment, drafts)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(f'id = "{path.stem}"', 'id = "hb-wristband"'), encoding="utf-8")
    sidecar = path.with_suffix(".tickets")
    sidecar.write_text(f"# 腕带\n#{numbers[0]}\n{numbers[1]} 2026-abc\n", encoding="utf-8")
    (drafts / "orphan.tickets").write_text(numbers[0] + "\n", encoding="utf-8")

    code, out, err = run("--config", str(deployment), "kb", "import", str(drafts))
    assert code == 0, err
    assert "labels: hb-wristband now answers 2 of the 2 tickets" in out
    assert f"warning: {sidecar}: not ticket numbers, skipped: '2026-abc'" in err
    assert f"warning: {drafts / 'orphan.tickets'}: no orphan.md beside it" in err
    assert {labels.get(n).article_id for n in numbers} == {"hb-wristband"}  # type: ignore[union-attr]


def test_a_draft_in_the_kb_folder_moves_its_labels_when_the_bot_starts(
    run: Run, deployment: Path, tmp_path: Path
) -> None:
    """``hisbot run`` imports the configured KB folder at start through the same import."""
    from bot.wiring.knowledge import prepare_knowledge

    settings = load_settings(deployment)
    path, numbers, labels = wristband_drafts(run, deployment, settings.path(settings.kb.dir))
    prepare_knowledge(settings, make_engine(settings.storage_url))
    assert {labels.get(n).article_id for n in numbers} == {path.stem}  # type: ignore[union-attr]
