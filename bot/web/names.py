"""Who a hospital-side name really is: the hospital and the access link (or chat platform)
shown beside every name a hospital user typed, so 「王工（工程师）」 typed through a link
cannot pass for an engineer."""

from __future__ import annotations

from collections.abc import Mapping

from bot.web.models import HospitalLink

_PLATFORMS = {"telegram": "Telegram", "slack": "Slack", "dingtalk": "钉钉", "wecom": "企业微信"}


def link_badge(hospital_name: str, link: HospitalLink | None) -> str:
    """ "第一人民医院 · 链接「信息科」" (the link's label, or its number)."""
    if link is None:
        return hospital_name
    label = f"链接「{link.label}」" if link.label else f"链接 #{link.id}"
    return f"{hospital_name} · {label}"


def side_badge(user_id: str | None, hospital_name: str, links: Mapping[int, HospitalLink]) -> str:
    """The badge of a hospital user known by ``user_id`` (an event's or message's
    "platform:user", or a web reporter's "web-link:<id>")."""
    ident = (user_id or "").removeprefix("web:")
    if ident.startswith("web-link:"):
        number = ident.removeprefix("web-link:")
        return link_badge(hospital_name, links.get(int(number)) if number.isdigit() else None)
    if ident.startswith("web:"):  # an engineer wrote it in the playground or on the web form
        return f"{hospital_name} · 工程师 {ident.removeprefix('web:')} 代填"
    platform = ident.split(":", 1)[0]
    if platform in _PLATFORMS:
        return f"{hospital_name} · {_PLATFORMS[platform]}"
    return hospital_name
