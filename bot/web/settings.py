"""``[web]`` and ``[reports]``: where the console listens, who may read what, report targets."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from annotated_types import Ge, Gt, Lt


@dataclass(frozen=True)
class ServiceTargets:
    """The default contract targets per urgency, in minutes (``[reports.targets]``); a hospital
    contract's own (``sla_target``) replace them for its tickets."""

    accept_minutes_p1: Annotated[int, Gt(0)] = 15
    accept_minutes_p2: Annotated[int, Gt(0)] = 30
    accept_minutes_p3: Annotated[int, Gt(0)] = 120
    accept_minutes_p4: Annotated[int, Gt(0)] = 480
    resolve_minutes_p1: Annotated[int, Gt(0)] = 240
    resolve_minutes_p2: Annotated[int, Gt(0)] = 1440
    resolve_minutes_p3: Annotated[int, Gt(0)] = 4320
    resolve_minutes_p4: Annotated[int, Gt(0)] = 10080

    def accept_minutes(self, urgency: str) -> int:
        return int(getattr(self, f"accept_minutes_{urgency.lower()}", self.accept_minutes_p3))

    def resolve_minutes(self, urgency: str) -> int:
        return int(getattr(self, f"resolve_minutes_{urgency.lower()}", self.resolve_minutes_p3))


@dataclass(frozen=True)
class ReportSettings:
    #: Months and days of the reports (and times shown in the console) are in this time zone.
    timezone: str = "Asia/Shanghai"
    #: How many of the most frequent unanswered questions a report lists.
    top_unanswered: Annotated[int, Gt(0)] = 10
    targets: ServiceTargets = field(default_factory=ServiceTargets)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"[reports] timezone: unknown time zone {self.timezone!r}") from None


@dataclass(frozen=True)
class WebSettings:
    """The web console (``[web]``)."""

    #: Serve the console from ``hisbot run``.
    enabled: bool = True
    #: Address and port to listen on (port 0: any free port, printed at start). Put a
    #: TLS-terminating proxy in front for other hosts.
    listen: str = "127.0.0.1"
    port: Annotated[int, Ge(0), Lt(65536)] = 8080
    #: Public base URL of the console; article links in chat answers are ``base_url/kb/<id>``.
    #: Empty: ``http://<listen>:<port>`` (right for a local demo, not behind a proxy).
    base_url: str = ""
    #: "public": anyone who can reach the console reads the KB; "login": engineers and
    #: hospital links only.
    kb_access: Literal["public", "login"] = "public"
    #: The chat playground (a "web" chat platform: the same pipeline as Telegram and Slack).
    playground: bool = True
    #: Signed-in sessions last this long (hours) from sign-in.
    session_hours: Annotated[int, Gt(0)] = 12
    #: Failed logins allowed per (user name, client address) pair within the window; then that
    #: pair is refused until the window has passed. Beyond as many failures of a user name
    #: (from anywhere) or of an address (for any name), attempts wait a growing delay (0.5 s
    #: doubling, at most ``login_max_delay_seconds``) — never a block.
    login_max_failures: Annotated[int, Gt(0)] = 5
    login_window_minutes: Annotated[int, Gt(0)] = 15
    login_max_delay_seconds: Annotated[float, Gt(0)] = 10.0
    #: Addresses or CIDR blocks of reverse proxies whose ``X-Forwarded-For`` is believed (the
    #: client's address for login limits and the audit). Empty: the header is ignored.
    trusted_proxies: tuple[str, ...] = ()
    #: Password checks (argon2) run in their own pool of this many threads, with at most
    #: ``password_check_queue`` waiting; more at once are answered "busy, retry" (503).
    password_check_threads: Annotated[int, Gt(0)] = 1
    password_check_queue: Annotated[int, Gt(0)] = 16
    #: Playground long polls one browser session may hold open at once (more: 429).
    max_polls_per_session: Annotated[int, Gt(0)] = 4
    #: Hours a playground (web chat) message is kept in the database; older ones are deleted
    #: by the leader's retention job (hourly). Each chat also keeps at most 500 messages.
    chat_keep_hours: Annotated[float, Gt(0)] = 168.0
    #: The largest screenshot or log a ticket's attachment may be (KB); the types allowed are
    #: fixed (images, PDF, ZIP, text logs) and recognised from the content.
    attachment_max_kb: Annotated[int, Gt(0)] = 5120
    #: Mark cookies ``Secure`` (HTTPS only): "auto" follows the scheme of ``base_url``.
    secure_cookies: Literal["auto", "always", "never"] = "auto"

    def __post_init__(self) -> None:
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"[web] base_url must start with http:// or https://: {self.base_url!r}"
            )
        from bot.web.abuse import proxy_networks

        proxy_networks(self.trusted_proxies)  # a bad entry is a config error naming it

    @property
    def url(self) -> str:
        """The console's public address, without a trailing slash."""
        if self.base_url:
            return self.base_url.rstrip("/")
        host = f"[{self.listen}]" if ":" in self.listen else self.listen
        return f"http://{host}:{self.port}"

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies == "auto":
            return self.url.startswith("https://")
        return self.secure_cookies == "always"


#: Environment variables that override ``[web] port`` and ``listen`` (for a demo or a
#: container, without editing config.toml); ``hisbot run --port/--listen`` override them.
PORT_ENV = "HISBOT_WEB_PORT"
LISTEN_ENV = "HISBOT_WEB_LISTEN"


def with_address(
    web: WebSettings,
    env: Mapping[str, str],
    listen: str | None = None,
    port: int | None = None,
) -> WebSettings:
    """The console's address by precedence: the command line's ``listen``/``port``, then
    ``HISBOT_WEB_LISTEN``/``HISBOT_WEB_PORT``, then config.toml's ``[web]``, then the default
    127.0.0.1:8080. ``ValueError`` names the variable or option that is not a port."""
    env_port = env.get(PORT_ENV, "").strip()
    if port is None and env_port:
        if not env_port.isdigit() or not 0 <= int(env_port) < 65536:
            raise ValueError(f"{PORT_ENV}={env_port!r} is not a port (0..65535)")
        port = int(env_port)
    if port is not None and not 0 <= port < 65536:
        raise ValueError(f"--port {port} is not a port (0..65535)")
    listen = listen or env.get(LISTEN_ENV, "").strip() or None
    return dataclasses.replace(
        web, listen=listen or web.listen, port=web.port if port is None else port
    )
