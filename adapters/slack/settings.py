"""Typed settings of the Slack edge (the ``[slack]`` section of config.toml).

Secrets are not settings: the bot token (``HISBOT_SLACK_BOT_TOKEN``, ``xoxb-…``), the signing
secret (``HISBOT_SLACK_SIGNING_SECRET``, HTTP mode) and the app-level token
(``HISBOT_SLACK_APP_TOKEN``, ``xapp-…``, Socket Mode) are read from the environment by the
composition root and handed to ``SlackAdapter`` directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from annotated_types import Ge, Gt, Lt

#: Public/private channel, multi-person or direct-message conversation ids.
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class SlackSettings:
    #: "socket": Socket Mode — the bot opens a WebSocket to Slack (outbound only, no public
    #: endpoint; the default for a hospital LAN). "http": Slack POSTs events, button presses and
    #: slash commands to ``http_path`` on our listener (a reverse proxy terminates TLS).
    mode: Literal["http", "socket"] = "socket"
    #: Web API base URL; method names are appended ("chat.postMessage"). Point it at a proxy
    #: (or the test fake). Socket Mode's apps.connections.open goes here too.
    api_base_url: str = "https://slack.com/api/"
    #: The engineers' desk channel id (ticket cards go there), e.g. "C0123DESK"; None = none.
    engineers_channel: str | None = None

    #: The slash command registered for the app: "/hisbot ticket 2026-000123" reaches the
    #: core as the command text "/ticket 2026-000123".
    command: str = "/hisbot"

    #: Where the HTTP-mode listener binds, and the path that takes events, interactions
    #: (button presses) and slash commands alike (configure all three Request URLs to it).
    http_listen: str = "127.0.0.1"
    http_port: Annotated[int, Ge(0), Lt(65536)] = 3000
    http_path: str = "/slack/events"

    #: chat.postMessage pacing: at least this many seconds between two posts to one channel
    #: (Slack allows about one message per second per channel).
    post_interval: Annotated[float, Ge(0)] = 1.0
    #: How often a 429 is retried after sleeping its Retry-After.
    rate_limit_retries: Annotated[int, Ge(0)] = 5
    #: Retries of a call after a timeout, a connection error or a 5xx; backoff doubles.
    network_retries: Annotated[int, Ge(0)] = 3
    network_backoff: Annotated[float, Ge(0)] = 0.5
    #: Total timeout of one Web API request, seconds.
    request_timeout: Annotated[float, Gt(0)] = 10.0

    #: Ignored since the durable inbox (the core's lanes order and bound handling); kept so
    #: existing config files still load.
    concurrent_events: int = 8
    max_pending_per_channel: int = 50
    #: Slack re-sends an event it thinks was not received (X-Slack-Retry-Num; up to ~5 min
    #: later): event ids and message timestamps this worker saw are remembered this long, to
    #: drop a redelivery before any work (the core's inbox answers it once across workers).
    dedupe_ttl: Annotated[float, Gt(0)] = 900.0
    dedupe_size: Annotated[int, Ge(1)] = 20_000
    #: Display names fetched with users.info are cached this long (seconds).
    user_cache_ttl: Annotated[float, Gt(0)] = 3600.0
    #: Post the text of a button acknowledgement (e.g. "已接单 #…") as an ephemeral message to
    #: the person who pressed (visible to them only).
    ephemeral_acks: bool = True
    #: On stop, in-flight handlers get this long to finish before they are cancelled.
    stop_timeout: Annotated[float, Ge(0)] = 10.0
    #: Socket Mode: how long start() waits for the WebSocket to connect.
    connect_timeout: Annotated[float, Gt(0)] = 30.0

    def __post_init__(self) -> None:
        if self.mode not in ("http", "socket"):
            raise ValueError(f"[slack] mode must be 'http' or 'socket', not {self.mode!r}")
        if not self.api_base_url.startswith(("http://", "https://")):
            raise ValueError(f"[slack] api_base_url must be an http(s) URL: {self.api_base_url!r}")
        if self.engineers_channel is not None and not (
            isinstance(self.engineers_channel, str) and _CHANNEL_ID.match(self.engineers_channel)
        ):
            raise ValueError(
                f"[slack] engineers_channel is not a Slack channel id (like 'C0123ABC'): "
                f"{self.engineers_channel!r}"
            )
        if not re.fullmatch(r"/[a-z0-9_\-]{1,31}", self.command):
            raise ValueError(f"[slack] command must look like '/hisbot': {self.command!r}")
        if not self.http_path.startswith("/"):
            raise ValueError(f"[slack] http_path must start with '/': {self.http_path!r}")
