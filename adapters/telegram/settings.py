"""Typed settings of the Telegram edge (the ``[telegram]`` section of config.toml).

Secrets are not settings: the bot token (``HISBOT_TELEGRAM_TOKEN``) and the webhook secret
(``HISBOT_TELEGRAM_WEBHOOK_SECRET``) are read from the environment by the composition root and
handed to ``TelegramAdapter`` directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from annotated_types import Ge, Gt, Lt


@dataclass(frozen=True)
class TelegramSettings:
    #: "polling": long-poll getUpdates (no inbound port needed, the default for a hospital LAN
    #: with outbound-only internet). "webhook": Telegram POSTs updates to ``webhook_url``.
    mode: Literal["polling", "webhook"] = "polling"
    #: Bot API endpoint; PTB appends ``<token>/<method>``. Point it at a local Bot API server
    #: (or the test fake) to keep traffic off api.telegram.org.
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    #: The vendor's engineers' group (where escalations are announced); None = not configured.
    engineers_chat: int | None = None

    #: Public HTTPS URL Telegram posts to (webhook mode only), e.g. "https://bot.example/telegram".
    webhook_url: str | None = None
    #: Where the local webhook server listens; a reverse proxy terminates TLS in front of it.
    webhook_listen: str = "127.0.0.1"
    webhook_port: Annotated[int, Gt(0), Lt(65536)] = 8443
    #: Path the local server accepts POSTs on (without the leading slash).
    webhook_path: str = "telegram"

    #: Long-poll timeout of getUpdates, seconds.
    poll_timeout: Annotated[int, Ge(1)] = 10

    #: Flood limits applied client-side by PTB's AIORateLimiter: all sends per second, and sends
    #: per group/supergroup/channel per minute (leaky bucket: a burst of ``group_per_minute``, then
    #: one every 60/``group_per_minute`` s). Private chats only count against the overall limit.
    overall_per_second: Annotated[int, Ge(1)] = 30
    group_per_minute: Annotated[int, Ge(1)] = 20
    #: How many sends may go out back to back before the steady rate applies.
    overall_burst: Annotated[int, Ge(1)] = 10
    group_burst: Annotated[int, Ge(1)] = 3
    #: How often a 429 (RetryAfter) is retried after sleeping retry_after (+0.1 s).
    max_retries: Annotated[int, Ge(0)] = 5

    #: Retries of a send that failed without reaching Telegram (connection refused, 5xx), and of
    #: edits and button answers after any network error; backoff doubles each time.
    network_retries: Annotated[int, Ge(0)] = 3
    network_backoff: Annotated[float, Ge(0)] = 0.5
    #: Ignored since the durable inbox (the core's lanes order and bound handling); kept so
    #: existing config files still load.
    concurrent_updates: int = 8
    max_pending_per_chat: int = 50

    def __post_init__(self) -> None:
        if self.mode not in ("polling", "webhook"):
            raise ValueError(f"[telegram] mode must be 'polling' or 'webhook', not {self.mode!r}")
        if self.mode == "webhook" and not self.webhook_url:
            raise ValueError("[telegram] mode = 'webhook' needs webhook_url")
