"""The composition root's platforms: the adapters chosen from config and the environment, the
playground's chat platform over its board in the database, and the chats the bot treats as
engineers' desks (``BotSettings``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from adapters.base import Adapter, ChatRef
from adapters.web.adapter import WebAdapter
from adapters.wecom.settings import TenantCredentials
from bot.infra.clock import Clock
from bot.infra.config import Secrets, Settings
from bot.infra.gateway import Database
from bot.privacy.gate import clean
from bot.tickets.services import BotSettings
from bot.webchat.board import DatabaseBoard
from bot.webchat.store import WebChatStore

log = logging.getLogger(__name__)


def bot_settings(settings: Settings) -> BotSettings:
    """How the bot behaves in chats (``[bot]``), and the desk chat of every platform that has one."""
    desks: list[ChatRef] = []
    if settings.telegram.engineers_chat is not None:
        desks.append(ChatRef("telegram", str(settings.telegram.engineers_chat)))
    if settings.slack.engineers_channel:
        desks.append(ChatRef("slack", settings.slack.engineers_channel))
    if settings.wecom.desk_chat_id is not None:
        desks.append(ChatRef("wecom", settings.wecom.desk_chat_id))
    if settings.dingtalk.desk_chat_id:
        desks.append(ChatRef("dingtalk", settings.dingtalk.desk_chat_id))
    return BotSettings(
        escalation=settings.bot.escalation,
        ack_mentions=settings.bot.ack_mentions,
        desk_chats=tuple(desks),
        max_message_chars=settings.decide.max_chars,
        group=settings.bot.group,
        desk=settings.desk,
    )


def configured_adapters(
    settings: Settings, secrets: Secrets, clustered: bool = False
) -> list[Adapter]:
    """An adapter for every platform whose secrets are set; the others are named in the log.
    ``clustered``: one of several workers, so a single-consumer connection (Telegram's
    polling, the WeCom connections, the DingTalk streams) waits for its lease
    (``receive:<platform>``) instead of starting with the adapter."""
    out: list[Adapter] = []
    if secrets.telegram_token:
        from adapters.telegram.adapter import TelegramAdapter

        out.append(
            TelegramAdapter(
                secrets.telegram_token,
                settings.telegram,
                webhook_secret=secrets.telegram_webhook_secret,
                receive_on_start=not clustered,
            )
        )
    else:
        log.warning("Telegram is not configured (set HISBOT_TELEGRAM_TOKEN to enable it)")
    if secrets.slack_bot_token:
        from adapters.slack.adapter import SlackAdapter

        out.append(
            SlackAdapter(
                secrets.slack_bot_token,
                settings.slack,
                signing_secret=secrets.slack_signing_secret,
                app_token=secrets.slack_app_token,
            )
        )
    else:
        log.warning(
            "Slack is not configured (set HISBOT_SLACK_BOT_TOKEN and HISBOT_SLACK_APP_TOKEN or HISBOT_SLACK_SIGNING_SECRET)"
        )
    wecom = wecom_credentials(settings, secrets)
    if wecom:
        from adapters.wecom.adapter import WeComAdapter

        out.append(WeComAdapter(settings.wecom, wecom, receive_on_start=not clustered))
    elif settings.wecom.tenants:
        log.warning(
            "WeCom is not configured (no [[wecom.tenants]] has its environment variables set)"
        )
    dingtalk = dingtalk_adapter(settings, secrets, clustered)
    if dingtalk is not None:
        out.append(dingtalk)
    if not bot_settings(settings).desk_chats:
        log.warning(
            "no engineers' desk chat is configured ([telegram] engineers_chat, [slack] engineers_channel, [wecom] engineers_group or [dingtalk] engineers_group): tickets are worked in the web console; their chat cards wait until a desk is configured"
        )
    return out


def wecom_credentials(settings: Settings, secrets: Secrets) -> list[TenantCredentials]:
    """The BotID/Secret of every ``[[wecom.tenants]]`` whose environment variables are set;
    a tenant with only one of them, or none, is named in the log and left out."""
    env = secrets.environment
    out: list[TenantCredentials] = []
    for tenant in settings.wecom.tenants:
        bot_id, secret = env.get(tenant.bot_id_env), env.get(tenant.secret_env)
        if bot_id and secret:
            out.append(TenantCredentials(tenant.name, bot_id, secret))
        else:
            missing = [
                n for n, v in ((tenant.bot_id_env, bot_id), (tenant.secret_env, secret)) if not v
            ]
            log.warning(
                "WeCom tenant %s is not configured: set %s", tenant.name, " and ".join(missing)
            )
    return out


def dingtalk_adapter(
    settings: Settings, secrets: Secrets, clustered: bool = False
) -> Adapter | None:
    """The DingTalk adapter over every tenant whose credential variables are set; a tenant
    without them is named in the log (the others run). ``clustered``: its streams wait for
    the ``receive:dingtalk`` lease."""
    tenants = settings.dingtalk.tenants
    credentials = {}
    for tenant in tenants:
        found = tenant.credentials(secrets.environment)
        if found is None:
            log.warning(
                "DingTalk tenant %s is not run: set %s and %s",
                tenant.name,
                tenant.client_id_env,
                tenant.client_secret_env,
            )
        else:
            credentials[tenant.name] = found
    desk = settings.dingtalk.desk_tenant
    if desk and desk not in credentials:
        log.warning(
            "the DingTalk desk group's tenant %s is not run: its ticket cards wait until it is",
            desk,
        )
    if not credentials:
        if not tenants:
            log.warning("DingTalk is not configured (add [[dingtalk.tenants]] to config.toml)")
        return None
    from adapters.dingtalk.adapter import DingTalkAdapter

    return DingTalkAdapter(settings.dingtalk, credentials, receive_on_start=not clustered)


@dataclass(frozen=True)
class Playground:
    """The web playground's chat platform and the board its chats are kept on."""

    adapter: WebAdapter
    #: The ``web_chat_entry`` rows (retention erases old ones).
    store: WebChatStore


def playground(settings: Settings, gateway: Database, db: Engine, now: Clock) -> Playground | None:
    """The playground's chats in the database, so every worker shows the same board (None:
    ``[web] enabled`` or ``playground`` is off)."""
    if not (settings.web.enabled and settings.web.playground):
        return None
    store = WebChatStore(db)
    adapter = WebAdapter(
        DatabaseBoard(gateway, store, now),
        max_polls=settings.web.max_polls_per_session,
        mask=clean,
    )
    return Playground(adapter, store)
