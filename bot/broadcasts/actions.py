"""The notices' buttons as typed actions (wire forms unchanged: ``ack:<delivery>`` …)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.routing.actions import action


@action("ack")
@dataclass(frozen=True)
class Acknowledged:
    """已知悉 under a delivered notice."""

    delivery: int


@action("applied")
@dataclass(frozen=True)
class Applied:
    """已升级 under a patch notice."""

    delivery: int


@action("nconfirm")
@dataclass(frozen=True)
class ConfirmNotice:
    """确认发送 under a ``/notice send``'s test: ``minutes`` is the send time in Unix
    minutes, 0 for now."""

    notice: int
    minutes: int


@action("nabort")
@dataclass(frozen=True)
class AbortNotice:
    """取消 under a ``/notice send``'s test: the notice stays a draft."""

    notice: int
