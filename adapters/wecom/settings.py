"""Typed settings of the WeCom edge (the ``[wecom]`` section of config.toml).

Secrets are not settings: each ``[[wecom.tenants]]`` entry names the *environment variables*
holding its bot's BotID and Secret; the composition root reads them and hands the adapter
``TenantCredentials``. One tenant is one WeCom organisation (a hospital's, or the vendor's)
with one 智能机器人 and one long connection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: A tenant name is the prefix of every chat and user id of that tenant ("h001/<chatid>").
_TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
_ENV_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")


@dataclass(frozen=True)
class WeComTenant:
    #: One WeCom organisation; the prefix of its chat ids in hisbot ("h001/<chatid>").
    name: str
    #: Names of the environment variables holding the bot's BotID and Secret (never the values).
    bot_id_env: str
    secret_env: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _TENANT_RE.match(self.name):
            raise ValueError(
                f"[[wecom.tenants]] name {self.name!r} must be 1-32 letters, digits, '.', '_' "
                "or '-' (like 'h001')"
            )
        for key in ("bot_id_env", "secret_env"):
            value = getattr(self, key)
            if not isinstance(value, str) or not _ENV_RE.match(value):
                raise ValueError(
                    f"[[wecom.tenants]] {self.name}: {key} must name an environment variable "
                    f"(like 'HISBOT_WC_H001_BOT'), not {value!r}"
                )


@dataclass(frozen=True)
class TenantCredentials:
    """A tenant's BotID and Secret as read from the environment (never logged)."""

    tenant: str
    bot_id: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class WeComSettings:
    #: The long-connection endpoint. Point it at a proxy, or the test fake (ws://127.0.0.1…).
    ws_url: str = "wss://openws.work.weixin.qq.com"
    #: The vendor's tenant, where the engineers' desk group lives (optional).
    desk_tenant: str | None = None
    #: The desk group's chat id inside ``desk_tenant`` (optional).
    engineers_group: str | None = None
    tenants: tuple[WeComTenant, ...] = ()

    #: A ``ping`` frame every this many seconds (WeCom expects one about every 30 s).
    heartbeat_seconds: float = 30.0
    #: Liveness watchdog: a connection that delivered no frame (pong, callback, ack) for this
    #: long is taken for a zombie, closed and opened again — not only one that closed.
    liveness_timeout: float = 75.0
    #: How long the subscribe answer and each request's ack may take.
    connect_timeout: float = 10.0
    request_timeout: float = 10.0
    #: Reconnect backoff: first wait, doubling up to the maximum (with ±20 % jitter).
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0

    #: How long we assume the ``req_id`` of a message callback stays valid for
    #: ``aibot_respond_msg``; later replies (and replies the server refuses as expired) go out
    #: as proactive ``aibot_send_msg`` instead.
    reply_window: float = 300.0
    #: A ``template_card_event`` must be answered (card updated) within 5 s: we use its
    #: ``req_id`` for ``aibot_respond_update_msg`` only this long after it arrived.
    card_update_window: float = 4.5

    #: Client-side limits of proactive sends (``aibot_send_msg``), enforced as leaky buckets:
    #: per chat (group or single chat) and per bot (one tenant's connection).
    chat_per_minute: int = 20
    chat_burst: int = 3
    bot_per_minute: int = 600
    bot_burst: int = 20
    #: A send the server refuses with a rate-limit errcode waits this long, this many times.
    rate_limit_wait: float = 10.0
    rate_limit_retries: int = 3

    #: Ignored since the durable inbox (it drops a re-delivered msgid and orders each chat's
    #: events, keeping them all); kept so existing config files still load.
    dedupe_size: int = 20_000
    dedupe_ttl: float = 3600.0
    max_pending_per_chat: int = 50
    #: Callbacks that arrived get this long at stop (or when the lease goes) to be stored.
    stop_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.ws_url.startswith(("ws://", "wss://")):
            raise ValueError(f"[wecom] ws_url must be a ws:// or wss:// URL: {self.ws_url!r}")
        names = [t.name for t in self.tenants]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"[[wecom.tenants]] lists tenant {dupes[0]!r} twice")
        if self.desk_tenant is not None and self.desk_tenant not in names:
            raise ValueError(f"[wecom] desk_tenant {self.desk_tenant!r} is not a [[wecom.tenants]]")
        if self.engineers_group is not None and self.desk_tenant is None:
            raise ValueError("[wecom] engineers_group needs desk_tenant (the group's tenant)")
        if self.engineers_group is not None and (
            not self.engineers_group or "/" in self.engineers_group
        ):
            raise ValueError(
                f"[wecom] engineers_group must be the group's chat id: {self.engineers_group!r}"
            )
        for key in (
            "heartbeat_seconds",
            "liveness_timeout",
            "connect_timeout",
            "request_timeout",
            "reconnect_initial",
            "reconnect_max",
            "reply_window",
            "card_update_window",
        ):
            if getattr(self, key) <= 0:
                raise ValueError(f"[wecom] {key} must be positive")
        if self.liveness_timeout <= self.heartbeat_seconds:
            raise ValueError("[wecom] liveness_timeout must be longer than heartbeat_seconds")
        for key in ("chat_per_minute", "chat_burst", "bot_per_minute", "bot_burst"):
            if getattr(self, key) < 1:
                raise ValueError(f"[wecom] {key} must be at least 1")
        if self.rate_limit_retries < 0 or self.rate_limit_wait < 0 or self.stop_timeout < 0:
            raise ValueError(
                "[wecom] rate-limit retries/wait and stop_timeout must not be negative"
            )

    @property
    def desk_chat_id(self) -> str | None:
        """The desk group as a hisbot chat id ("vendor/<chatid>"), or None."""
        if self.desk_tenant is None or self.engineers_group is None:
            return None
        return f"{self.desk_tenant}/{self.engineers_group}"
