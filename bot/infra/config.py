"""config.toml → typed, frozen settings.

Every setting has a default, so an empty file (or none) gives a working offline demo. Unknown
keys are errors, not silently ignored: a typo in a threshold must not pass unnoticed at 3 a.m.
Relative paths are resolved against the directory of the config file. Secrets never live here;
they come from the environment (see ``Secrets``).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import annotated_types as at

from adapters.dingtalk.settings import DingTalkSettings
from adapters.slack.settings import SlackSettings
from adapters.telegram.settings import TelegramSettings
from adapters.wecom.settings import WeComSettings
from bot.broadcasts.settings import BroadcastSettings
from bot.conversation.settings import GroupSettings
from bot.desk.queue.settings import DeskSettings
from bot.duty.settings import DutySettings
from bot.kb.loop.settings import KbLoopSettings
from bot.privacy.settings import PrivacySettings
from bot.registry.specs import EngineerSpec, HospitalSpec, specs_from_toml
from bot.sla.settings import SlaSettings
from bot.web.settings import ReportSettings, WebSettings
from intents.settings import DecideSettings
from kb_index.settings import EmbeddingSettings, RetrievalSettings


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class StorageSettings:
    #: SQLAlchemy URL; empty means ``sqlite:///<data_dir>/hisbot.db``. A relative SQLite path is
    #: relative to the config file's folder.
    url: str = ""


@dataclass(frozen=True)
class KbSettings:
    #: Folder of Markdown articles, imported at start when new or changed.
    dir: str = "kb"
    #: Where the persisted search index lives; empty means ``<data_dir>/index``.
    index_dir: str = ""
    #: How often (seconds) the running bot looks for KB changes made outside it (``hisbot kb
    #: import``/``kb build``) and swaps them in; 0 turns it off (then only a restart does).
    reload_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.reload_seconds < 0:
            raise ValueError("[kb] reload_seconds must be 0 (off) or positive")


@dataclass(frozen=True)
class BotBehaviour:
    """How the bot behaves in hospital chats (``[bot]``)."""

    #: "ticket": an unanswerable question opens a ticket at once; "offer": the bot first offers
    #: a one-tap "转工程师" button. Either way the question is recorded, never dropped.
    escalation: Literal["ticket", "offer"] = "ticket"
    #: Reply briefly to chit-chat that @-mentions the bot (otherwise it stays quiet).
    ack_mentions: bool = True
    #: ``[bot.group]``: pieces, engineers talking, one incident per outage, 「还是不行」.
    group: GroupSettings = field(default_factory=GroupSettings)


@dataclass(frozen=True)
class Settings:
    """All settings; ``base_dir`` is the folder relative paths are resolved against."""

    base_dir: Path = field(default_factory=Path.cwd)
    #: Where the database file, the search index and other state live by default.
    data_dir: str = "data"
    storage: StorageSettings = field(default_factory=StorageSettings)
    kb: KbSettings = field(default_factory=KbSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    decide: DecideSettings = field(default_factory=DecideSettings)
    web: WebSettings = field(default_factory=WebSettings)
    reports: ReportSettings = field(default_factory=ReportSettings)
    bot: BotBehaviour = field(default_factory=BotBehaviour)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    slack: SlackSettings = field(default_factory=SlackSettings)
    wecom: WeComSettings = field(default_factory=WeComSettings)
    dingtalk: DingTalkSettings = field(default_factory=DingTalkSettings)
    broadcast: BroadcastSettings = field(default_factory=BroadcastSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    duty: DutySettings = field(default_factory=DutySettings)
    sla: SlaSettings = field(default_factory=SlaSettings)
    desk: DeskSettings = field(default_factory=DeskSettings)
    kbloop: KbLoopSettings = field(default_factory=KbLoopSettings)
    #: ``[[hospitals]]`` and ``[[engineers]]``: synced into the registry at every start.
    hospitals: tuple[HospitalSpec, ...] = ()
    engineers: tuple[EngineerSpec, ...] = ()

    @property
    def index_path(self) -> Path:
        """Where the search index lives (``[kb] index_dir``, default ``<data_dir>/index``)."""
        return self.path(self.kb.index_dir or f"{self.data_dir}/index")

    def tenant_names(self, platform: str) -> set[str] | None:
        """The configured ``[[<platform>.tenants]]`` names of a many-tenant platform (DingTalk,
        WeCom: its chats and accounts are ``<tenant>/<id>``); None for any other platform."""
        if platform == "dingtalk":
            return {t.name for t in self.dingtalk.tenants}
        if platform == "wecom":
            return {t.name for t in self.wecom.tenants}
        return None

    def path(self, value: str) -> Path:
        """Resolve a path setting against the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def storage_url(self) -> str:
        """The storage URL with a relative SQLite path made absolute."""
        url = self.storage.url or f"sqlite:///{self.data_dir}/hisbot.db"
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
            rel = url[len(prefix) :]
            if rel and rel != ":memory:":
                return prefix + str(self.path(rel))
        return url


@dataclass(frozen=True)
class Secrets:
    """Secrets come only from the environment, never from config.toml."""

    telegram_token: str | None
    telegram_webhook_secret: str | None
    slack_bot_token: str | None
    slack_signing_secret: str | None
    slack_app_token: str | None
    #: The environment the per-tenant credentials are read from (``[[dingtalk.tenants]]`` and
    #: ``[[wecom.tenants]]`` name their variables; the config never holds the values).
    environment: typing.Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: typing.Mapping[str, str] | None = None) -> Secrets:
        env = os.environ if env is None else env
        return cls(
            telegram_token=env.get("HISBOT_TELEGRAM_TOKEN") or None,
            telegram_webhook_secret=env.get("HISBOT_TELEGRAM_WEBHOOK_SECRET") or None,
            slack_bot_token=env.get("HISBOT_SLACK_BOT_TOKEN") or None,
            slack_signing_secret=env.get("HISBOT_SLACK_SIGNING_SECRET") or None,
            slack_app_token=env.get("HISBOT_SLACK_APP_TOKEN") or None,
            environment=dict(env),
        )


#: Settings an older hisbot read, and what took their place (an upgrade's config gets the
#: way forward, not just "unknown key").
_RETIRED: dict[tuple[str, str], str] = {
    ("decide", "confidence"): (
        "is gone: the verification model is a file now (boosted trees, not weights). Delete "
        "the table to use the shipped model with the shipped thresholds, or fit your own with "
        "`hisbot kb calibrate … --out FILE` and set [decide] verification_model to that file "
        "and the thresholds it prints"
    ),
}


def _build(cls: type[Any], raw: dict[str, Any], path: str, section: str = "") -> Any:
    """Build one frozen dataclass from a TOML table, rejecting unknown keys, wrong types and
    values outside the bounds its fields declare (``Annotated[int, Ge(1)]``)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "base_dir"}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{path}: [{section}] {key}" if section else f"{path}: {key}"
        if key not in fields:
            if (section, key) in _RETIRED:
                raise ConfigError(f"{path}: [{_join(section, key)}] {_RETIRED[section, key]}")
            known = ", ".join(sorted(fields))
            table = f"[{section}]" if section else "the top level"
            raise ConfigError(f"{path}: unknown key {key!r} in {table} (known: {known})")
        hint, bounds = _unpack(hints[key])
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: [{_join(section, key)}] must be a table")
            kwargs[key] = _build(typing.cast(type[Any], hint), value, path, _join(section, key))
        else:
            kwargs[key] = _check_bounds(_check_type(value, hint, where), bounds, where)
    return cls(**kwargs)


def _join(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def _unpack(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    """``Annotated[T, Ge(1), …]`` → (T, (Ge(1), …)); a plain hint has no bounds."""
    if typing.get_origin(hint) is typing.Annotated:
        base, *extra = typing.get_args(hint)
        return base, tuple(extra)
    return hint, ()


def _check_bounds(value: Any, bounds: tuple[Any, ...], where: str) -> Any:
    """The bounds a field declares with ``annotated_types`` (``Annotated[int, Ge(1)]``)."""
    limits = [limit for bound in bounds for limit in _limits(bound)]
    if value is not None and not all(ok(value) for ok, _ in limits):
        words = " and ".join(text for _, text in limits)
        raise ConfigError(f"{where} must be {words}, not {value!r}")
    return value


def _limits(bound: Any) -> list[tuple[Callable[[Any], bool], str]]:
    """One declared bound (``Ge``, ``Gt``, ``Le``, ``Lt``) as (test, words)."""
    if isinstance(bound, at.Ge):
        return [(lambda v: v >= bound.ge, f"at least {bound.ge}")]
    if isinstance(bound, at.Gt):
        return [(lambda v: v > bound.gt, f"above {bound.gt}")]
    if isinstance(bound, at.Le):
        return [(lambda v: v <= bound.le, f"at most {bound.le}")]
    if isinstance(bound, at.Lt):
        return [(lambda v: v < bound.lt, f"below {bound.lt}")]
    return []


def _check_type(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(
                f"{where} must be one of {', '.join(map(repr, allowed))}, not {value!r}"
            )
        return value
    if origin in (types.UnionType, typing.Union):
        # ``int | None``: TOML has no null, so the value must be one of the other members
        options = [o for o in typing.get_args(hint) if o is not type(None)]
        for option in options:
            try:
                return _check_type(value, option, where)
            except ConfigError:
                continue
        names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
        raise ConfigError(f"{where} must be {names}, not {value!r}")
    if origin in (tuple, list):
        (item, *_) = typing.get_args(hint)
        if dataclasses.is_dataclass(item):  # an array of tables, e.g. [[wecom.tenants]]
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise ConfigError(
                    f"{where} must be a list of tables ([[...]] entries), not {value!r}"
                )
            try:
                return tuple(
                    _build(typing.cast(type[Any], item), v, f"{where} #{i + 1}")
                    for i, v in enumerate(value)
                )
            except TypeError as exc:  # a required key is missing
                raise ConfigError(f"{where}: {exc}") from exc
        if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
            raise ConfigError(f"{where} must be a list of {item.__name__}, not {value!r}")
        return tuple(value)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if (isinstance(hint, type) and not isinstance(value, hint)) or (
        isinstance(value, bool) and hint is not bool
    ):
        raise ConfigError(f"{where} must be {getattr(hint, '__name__', hint)}, not {value!r}")
    return value


def _check_tenants(settings: Settings) -> None:
    """Every chat or account of a many-tenant platform (``<tenant>/<id>``) names one of that
    platform's configured ``[[<platform>.tenants]]``."""
    owners = [(f"hospital {h.id}", h.chats() + h.admins()) for h in settings.hospitals]
    owners += [(f"engineer {e.id}", e.identities()) for e in settings.engineers]
    for owner, ids in owners:
        for platform, value in ids:
            known = settings.tenant_names(platform)
            tenant = value.partition("/")[0]
            if known is not None and tenant not in known:
                raise ValueError(
                    f"{owner}: {platform} tenant {tenant!r} of {value!r} is not configured "
                    f"(known: {', '.join(sorted(known)) or 'none'}; add a "
                    f"[[{platform}.tenants]])"
                )


def load_settings(path: Path | None) -> Settings:
    """Load settings from ``path``; ``None`` (or a missing default file) gives the defaults."""
    if path is None:
        return Settings()
    path = path.resolve()
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        hospitals, engineers = specs_from_toml(raw)
        raw = {k: v for k, v in raw.items() if k not in ("hospitals", "engineers")}
        settings: Settings = _build(Settings, raw, str(path))
        settings = dataclasses.replace(settings, hospitals=hospitals, engineers=engineers)
        _check_tenants(settings)
    except ValueError as exc:  # a section's own validation (__post_init__)
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{path}: {exc}") from exc
    return dataclasses.replace(settings, base_dir=path.parent)
