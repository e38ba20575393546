"""Typed settings of the Telegram edge (the ``[telegram]`` section of config.toml).

Secrets are not settings: the bot token (``HISBOT_TELEGRAM_TOKEN``) and the webhook secret
(``HISBOT_TELEGRAM_WEBHOOK_SECRET``) are read from the environment by the composition root and
handed to ``TelegramAdapter`` directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from annotated_types import Ge, Gt, Lt

from adapters.budget import SendBudget


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

    #: Flood limits applied client-side (``adapters/telegram/limiter.py``) and declared to the
    #: core as each chat's send budget: all sends per second (``overall_burst`` back to back),
    #: sends per group/supergroup/channel per minute (a burst of ``group_burst``, then one every
    #: 60/``group_per_minute`` s, never more than ``group_per_minute`` in any minute) and per
    #: private chat per second. Desk messages and pages go first when the overall budget is short.
    overall_per_second: Annotated[int, Ge(1)] = 30
    group_per_minute: Annotated[int, Ge(1)] = 20
    private_per_second: Annotated[int, Ge(1)] = 1
    #: How many sends may go out back to back before the steady rate applies.
    overall_burst: Annotated[int, Ge(1)] = 10
    group_burst: Annotated[int, Ge(1)] = 3
    #: Seconds added to each chat's window: a message released by us at t arrives a little
    #: later (network jitter), so a window of exactly Telegram's would cross it now and then.
    limit_margin: Annotated[float, Ge(0)] = 0.1
    #: How often a 429 (RetryAfter) is retried; it pauses only the chat it was about, for
    #: retry_after seconds.
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
        for burst, count, name in (
            (self.overall_burst, self.overall_per_second, "overall"),
            (self.group_burst, self.group_per_minute, "group"),
        ):
            if burst > count:
                raise ValueError(f"[telegram] {name}_burst must not exceed its rate ({count})")
        if self.mode not in ("polling", "webhook"):
            raise ValueError(f"[telegram] mode must be 'polling' or 'webhook', not {self.mode!r}")
        if self.mode == "webhook" and not self.webhook_url:
            raise ValueError("[telegram] mode = 'webhook' needs webhook_url")

    def chat_budget(self, chat_id: int | str) -> SendBudget:
        """A chat's send budget: groups and channels (negative ids, ``@name``) per minute,
        private chats per second."""
        try:
            private = int(chat_id) > 0
        except ValueError:
            private = False  # "@channelname"
        if private:
            return SendBudget(self.private_per_second, 1.0 + self.limit_margin, 1)
        return SendBudget(self.group_per_minute, 60.0 + self.limit_margin, self.group_burst)

    @property
    def overall_budget(self) -> SendBudget:
        return SendBudget(self.overall_per_second, 1.0, self.overall_burst)
