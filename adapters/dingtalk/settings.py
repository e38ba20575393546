"""Typed settings of the DingTalk edge (``[dingtalk]`` and ``[[dingtalk.tenants]]``).

A tenant is one DingTalk organisation (a hospital's, or the vendor's own) in which the hospital
admin created an 企业内部应用 robot in Stream mode. Robots cannot join other organisations'
groups, so the bot holds many tenants at once, one stream connection each. The config names
only the *environment variables* that hold each tenant's AppKey/AppSecret/robotCode: secrets
never live in config.toml.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
_ENV_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")


@dataclass(frozen=True)
class TenantCredentials:
    """One tenant's secrets as read from the environment."""

    client_id: str
    client_secret: str
    #: The robot's code for the send APIs; DingTalk makes it equal to the AppKey for an
    #: 企业内部应用 robot, so it defaults to ``client_id``.
    robot_code: str


@dataclass(frozen=True)
class DingTalkTenant:
    #: The name hospitals and chat ids use: ``dingtalk_groups = ["<name>/cid…"]``.
    name: str
    client_id_env: str
    client_secret_env: str
    #: Optional: the robotCode when it differs from the AppKey.
    robot_code_env: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _TENANT_RE.match(self.name):
            raise ValueError(
                f"[[dingtalk.tenants]] name {self.name!r} must be 1-32 letters, digits, "
                "'.', '_' or '-' (like 'h001')"
            )
        for key in ("client_id_env", "client_secret_env", "robot_code_env"):
            value = getattr(self, key)
            if value == "" and key == "robot_code_env":
                continue
            if not isinstance(value, str) or not _ENV_RE.match(value):
                raise ValueError(
                    f"[[dingtalk.tenants]] {self.name}: {key} must name an environment "
                    f"variable (like 'HISBOT_DT_H001_ID'), not {value!r}"
                )

    def credentials(self, env: Mapping[str, str]) -> TenantCredentials | None:
        """The tenant's secrets, or None when its AppKey or AppSecret variable is unset."""
        client_id = env.get(self.client_id_env, "").strip()
        secret = env.get(self.client_secret_env, "").strip()
        if not client_id or not secret:
            return None
        robot = env.get(self.robot_code_env, "").strip() if self.robot_code_env else ""
        return TenantCredentials(client_id, secret, robot or client_id)


@dataclass(frozen=True)
class DingTalkSettings:
    #: OpenAPI base: the stream gateway (``/v1.0/gateway/connections/open``), access tokens,
    #: the robot send APIs and cards (the SDK's DINGTALK_OPENAPI_ENDPOINT; here per config).
    api_base: str = "https://api.dingtalk.com"
    #: The tenant whose group is the engineers' desk, and that group's openConversationId.
    desk_tenant: str = ""
    engineers_group: str = ""
    tenants: tuple[DingTalkTenant, ...] = ()

    #: Interactive card template for messages with buttons (createAndDeliver, STREAM
    #: callbacks). The default is DingTalk's public "markdown + buttons" template the SDK's
    #: MarkdownButtonCardInstance uses; a tenant may register its own in the card builder.
    card_template_id: str = "1366a1eb-bc54-4859-ac88-517c56a9acb1.schema"

    #: DingTalk limits a robot to 20 messages per minute in one group (more are dropped with
    #: a flow-control error and the robot is muted for 10 minutes): enforced before sending.
    group_messages_per_minute: int = 20
    #: OpenAPI calls per second per tenant (the robot send APIs allow 20 QPS per app).
    app_qps: int = 20
    #: Seconds added to both windows: a call counted by us at t may be counted by DingTalk a
    #: little later (network jitter), so a window of exactly the platform's would cross it.
    limit_margin: float = 0.1
    #: How often a 429 / flow-control answer is retried (after Retry-After or 1 s, doubling).
    rate_limit_retries: int = 5
    #: Retries of a call after a timeout, a connection error or a 5xx; backoff doubles.
    network_retries: int = 3
    network_backoff: float = 0.5
    request_timeout: float = 10.0

    #: Liveness: a ping is sent this often, and a connection that has delivered nothing (no
    #: frame, no pong) for ``liveness_timeout`` seconds is a zombie — closed and reopened.
    ping_interval: float = 20.0
    liveness_timeout: float = 60.0
    #: Waits before reopening a dropped connection (doubling up to ``reconnect_max``); a
    #: tenant whose credentials are refused is retried every ``reconnect_max`` seconds.
    reconnect_backoff: float = 1.0
    reconnect_max: float = 60.0
    #: How long start() waits for every tenant's first connection.
    connect_timeout: float = 15.0

    #: Ignored since the durable inbox (it drops a re-delivered msgId and orders each chat's
    #: events); kept so existing config files still load.
    dedupe_ttl: float = 3600.0
    dedupe_size: int = 50_000
    concurrent_events: int = 16
    #: Incoming messages remembered for replies (their sessionWebhook and sender to @).
    remembered_messages: int = 10_000
    #: On stop, frames being stored get this long to be acknowledged before the socket closes.
    stop_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.api_base.startswith(("http://", "https://")):
            raise ValueError(f"[dingtalk] api_base must be an http(s) URL: {self.api_base!r}")
        names = [t.name for t in self.tenants]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"[[dingtalk.tenants]] name listed twice: {', '.join(twice)}")
        if bool(self.desk_tenant) != bool(self.engineers_group):
            raise ValueError("[dingtalk] desk_tenant and engineers_group go together")
        if self.desk_tenant and self.desk_tenant not in names:
            raise ValueError(
                f"[dingtalk] desk_tenant {self.desk_tenant!r} is not a [[dingtalk.tenants]] name"
            )
        if self.engineers_group and not self.engineers_group.startswith("cid"):
            raise ValueError(
                f"[dingtalk] engineers_group must be an openConversationId ('cid…'): "
                f"{self.engineers_group!r}"
            )
        if self.group_messages_per_minute < 1 or self.app_qps <= 0:
            raise ValueError("[dingtalk] group_messages_per_minute and app_qps must be positive")
        for name in ("rate_limit_retries", "network_retries"):
            if getattr(self, name) < 0:
                raise ValueError(f"[dingtalk] {name} must not be negative")
        for name in (
            "network_backoff",
            "request_timeout",
            "limit_margin",
            "ping_interval",
            "liveness_timeout",
            "reconnect_backoff",
            "reconnect_max",
            "connect_timeout",
            "stop_timeout",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"[dingtalk] {name} must be positive")
        if self.remembered_messages < 1:
            raise ValueError("[dingtalk] remembered_messages must be at least 1")

    def tenant(self, name: str) -> DingTalkTenant | None:
        return next((t for t in self.tenants if t.name == name), None)

    @property
    def desk_chat_id(self) -> str | None:
        """The desk group as a hisbot chat id (``tenant/cid…``), or None."""
        if not self.desk_tenant:
            return None
        return f"{self.desk_tenant}/{self.engineers_group}"
