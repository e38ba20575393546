"""The ``hisbot`` command line.

Every command turns expected failures (a bad config, a missing index, an unknown model folder,
a malformed query file) into one clear line on stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.cli.common import (
    EXIT_USAGE,
    CliError,
    open_db,
    settings_from,
)
from bot.infra.config import ConfigError, Settings

log = logging.getLogger("hisbot")


# ---- kb ----------------------------------------------------------------------------------


def cmd_kb_import(args: argparse.Namespace) -> int:
    from bot.cli.progress import progress_bar
    from bot.kb.importing import import_kb
    from kb_index.articles import article_files

    settings = settings_from(args)
    folder = Path(args.dir)
    if not folder.is_dir():
        raise CliError(f"{folder}: KB folder not found")
    with progress_bar(sum(1 for _ in article_files(folder)), "importing") as advance:
        result = import_kb(open_db(settings), folder, strict=args.strict, progress=advance)
    report = result.report
    for article_id in result.cleaned:
        print(f"note: {article_id}: personal data masked or control characters removed")
    for err in report.errors:
        print(f"error: {err}", file=sys.stderr)
    if args.strict and report.errors:
        print(
            f"import aborted (--strict): {len(report.errors)} bad file(s), nothing imported",
            file=sys.stderr,
        )
        return 1
    print(
        f"imported {folder}: {len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged ({len(report.kept)} edited on the web kept), {len(report.errors)} rejected"
    )
    for warning in result.labels.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for a in result.labels.adopted:
        print(
            f"labels: {a.article_id} now answers {a.changed} of the {a.tickets} tickets "
            f"in {a.sidecar.name} (their 需要新文章 labels moved to it)"
        )
    return 1 if report.errors else 0


def cmd_kb_build(args: argparse.Namespace) -> int:
    from bot.kb.knowledge import build_index, embedder_for

    settings = settings_from(args)
    embedder = embedder_for(settings)
    index, embedded, folder = build_index(settings, open_db(settings), embedder)
    if len(index) == 0:
        print(
            "warning: the knowledge base is empty; run `hisbot kb import DIR` first",
            file=sys.stderr,
        )
    print(
        f"index built: {len(index)} articles ({embedded} embedded, {len(index) - embedded} reused), model {embedder.model_id}, written to {folder}"
    )
    return 0


def cmd_kb_search(args: argparse.Namespace) -> int:
    from bot.kb.knowledge import answer_engine, embedder_for, load_index

    settings = settings_from(args)
    embedder = embedder_for(settings)
    engine = answer_engine(settings, load_index(settings, embedder), embedder)
    ranked = engine.rank(args.query, k=args.k)
    if not ranked:
        print("no articles (empty query or empty knowledge base)")
        return 0
    print(
        f"{'#':>2}  {'article':<10} {'conf':>5} {'fused':>6} {'dense':>6} {'bm25':>7} {'cover':>5}  title"
    )
    for i, r in enumerate(ranked, 1):
        h = r.hit
        print(
            f"{i:>2}  {h.article.id:<10} {r.confidence:5.2f} {h.score:6.3f} {h.dense:6.3f} {h.bm25:7.2f} {h.coverage:5.2f}  {h.article.title}"
        )
    return 0


def cmd_kb_eval_sts(args: argparse.Namespace) -> int:
    from bot.cli.progress import progress_bar
    from bot.kb.knowledge import embedder_for
    from intents.evaluate import eval_sts, read_sts

    settings = settings_from(args)
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{path}: file not found")
    pairs = read_sts(path)
    embedder = embedder_for(settings)
    with progress_bar(len(pairs), "STS-B") as advance:
        rho = eval_sts(embedder, pairs, progress=advance)
    print(
        f"model {embedder.model_id}: Spearman {rho * 100:.1f} on {len(pairs)} pairs of {path.name}"
    )
    print(
        "published: Tencent word2vec 55.8, paraphrase-multilingual-MiniLM-L12-v2 78.9, text2vec-base-chinese 79.3"
    )
    return 0


# ---- chat, redact ------------------------------------------------------------------------


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.cli.chat import run_chat

    return run_chat(settings_from(args), kb_dir=Path(args.kb) if args.kb else None)


def cmd_redact(args: argparse.Namespace) -> int:
    from bot.redact import redact_lines

    for line in redact_lines(sys.stdin):
        sys.stdout.write(line)
    return 0


# ---- run ----------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from bot.app import run
    from bot.cluster.instance_lock import AlreadyRunning
    from bot.infra.config import Secrets

    logging.getLogger().setLevel(logging.DEBUG if args.verbose else logging.INFO)
    # Alembic narrates every plugin it loads at INFO: noise in an operator's log
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        asyncio.run(run(settings_from(args), Secrets.from_env()))
    except AlreadyRunning as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:  # the console's port is taken, or the address is wrong
        raise CliError(str(exc)) from exc
    return 0


# ---- parser ------------------------------------------------------------------------------


def _with_settings(
    command: Callable[[argparse.Namespace, Settings], int],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return command(args, settings_from(args))

    return run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hisbot", description="HIS after-sales support bot")
    p.add_argument(
        "--config",
        "-c",
        help="config.toml (default: ./config.toml if present, else built-in defaults)",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="log debug output")
    sub = p.add_subparsers(dest="command", required=True)

    kb = sub.add_parser(
        "kb", help="knowledge base: import, build, search, evaluate"
    ).add_subparsers(dest="kb_command", required=True)
    s = kb.add_parser("import", help="validate and load a folder of Markdown articles")
    s.add_argument("dir")
    s.add_argument("--strict", action="store_true", help="any bad file aborts the whole import")
    s.set_defaults(func=cmd_kb_import)
    s = kb.add_parser("build", help="build the search index (re-embeds only changed articles)")
    s.set_defaults(func=cmd_kb_build)
    s = kb.add_parser("search", help="print ranked articles with scores")
    s.add_argument("query")
    s.add_argument("-k", type=int, default=5)
    s.set_defaults(func=cmd_kb_search)
    from bot.cli.kb_eval import add_eval_parsers

    add_eval_parsers(kb, _with_settings)
    from bot.kb.loop.problems_cli import add_problems_parser

    add_problems_parser(kb, _with_settings)
    s = kb.add_parser("eval-sts", help="Spearman correlation on an STS-B file")
    s.add_argument("file")
    s.set_defaults(func=cmd_kb_eval_sts)

    s = sub.add_parser("chat", help="talk to the engine as a hospital user, in the terminal")
    s.add_argument("--kb", help="import and index this folder first (default: [kb] dir)")
    s.set_defaults(func=cmd_chat)
    s = sub.add_parser("redact", help="mask personal data in lines read from stdin")
    s.set_defaults(func=cmd_redact)
    s = sub.add_parser("run", help="run the bot: every configured platform, until Ctrl-C")
    s.add_argument(
        "--port",
        type=int,
        help="the web console's port (over HISBOT_WEB_PORT and [web] port; 0: any free port)",
    )
    s.add_argument(
        "--listen",
        help="the web console's address (over HISBOT_WEB_LISTEN and [web] listen)",
    )
    s.set_defaults(func=cmd_run)
    from bot.broadcasts.cli import add_notice_parser

    add_notice_parser(sub)
    from bot.web.cli import add_web_parser

    add_web_parser(sub)
    from bot.privacy.cli import add_privacy_parser

    add_privacy_parser(sub)
    from bot.workflows.cli import add_service_parser

    add_service_parser(sub)

    from bot.duty.cli import add_duty_parser
    from bot.sla.cli import add_sla_parser

    add_duty_parser(sub)
    add_sla_parser(sub)

    from bot.cli.registry import add_registry_parser

    add_registry_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs request URLs at INFO, and a Telegram URL carries the bot token; PTB logs whole
    # updates (patient data) at DEBUG. Neither may reach a log file.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("telegram").setLevel(logging.INFO)
    from bot.cli.kb_eval import EvalCliError
    from bot.infra.db import StorageError
    from intents.classifier_training import CorpusError
    from intents.classify import ClassifierFileError
    from intents.evaluate import QueryFileError
    from intents.verifier import VerifierFileError
    from kb_index.embedder import EmbedderError
    from kb_index.index import IndexError_
    from kb_index.lay_terms import LayTermsError

    try:
        code: int = args.func(args)
        return code
    except (
        CliError,
        ConfigError,
        QueryFileError,
        EvalCliError,
        CorpusError,
        ClassifierFileError,
        VerifierFileError,
        EmbedderError,
        IndexError_,
        LayTermsError,
        FileNotFoundError,
        StorageError,
    ) as exc:
        print(f"hisbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
