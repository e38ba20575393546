"""The web chat's JSON API, mounted by the console under ``/playground/api/chats/{chat_id}``.

Every endpoint asks ``authorize`` first (who is this, may they read — or write — this chat?),
so the adapter knows nothing of sessions, CSRF or hospitals. Errors are JSON
``{"error": status, "detail": "…"}`` with a sentence the page can show as it is.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.base import Sender

from .chatlog import ChatError, as_json

if TYPE_CHECKING:
    from .adapter import WebAdapter

#: Decides who may speak in a web chat: ``(request, chat_id, writing)`` → the sender, or
#: raises ``HTTPException`` (401 anonymous, 403 bad CSRF token, 404 not their chat). It may
#: name the browser session in ``request.state.chat_client``: long polls are capped per
#: client (default: per sender); and put in ``request.state.chat_badge`` who the sender
#: really is, shown beside whatever name they type.
ChatAuthorizer = Callable[[Request, str, bool], Awaitable[Sender]]

#: The longest long poll, in seconds (below common proxies' idle timeouts).
MAX_WAIT = 25.0
#: Bigger bodies are refused unread as JSON (a message is at most a few KB).
MAX_BODY = 32 * 1024
#: Display names are cut to this many characters.
MAX_NAME = 40


def _error(exc: ChatError) -> JSONResponse:
    return JSONResponse({"error": exc.status, "detail": exc.message}, status_code=exc.status)


def _number(request: Request, name: str, default: float, maximum: float | None) -> float:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ChatError(400, f"参数 {name} 应为数字。") from None
    if not math.isfinite(value) or value < 0:
        raise ChatError(400, f"参数 {name} 应为非负数。")
    return min(value, maximum) if maximum is not None else value


async def _body(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise ChatError(413, "请求过大。")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ChatError(413, "请求过大。")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ChatError(400, "请求格式错误：需要 JSON。") from None
    if not isinstance(data, dict):
        raise ChatError(400, "请求格式错误：需要 JSON 对象。")
    return data


def _text(data: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ChatError(400, f"缺少字段 {name}（文本）。")
    return value


def build_router(adapter: WebAdapter, authorize: ChatAuthorizer) -> APIRouter:
    router = APIRouter(prefix="/playground/api/chats/{chat_id}")

    @router.get("/messages")
    async def messages(request: Request, chat_id: str) -> JSONResponse:
        """``?after=<seq>`` what changed since; ``&wait=<s>`` long poll (at most 25 s)."""
        sender = await authorize(request, chat_id, False)
        try:
            after = int(_number(request, "after", 0, None))
            wait = _number(request, "wait", 0.0, MAX_WAIT)
            found = await adapter.changes(
                chat_id,
                after,
                sender.user_id,
                wait,
                gone=request.is_disconnected,
                client=str(getattr(request.state, "chat_client", "")),
            )
        except ChatError as exc:
            return _error(exc)
        return JSONResponse({"messages": found.messages, "toasts": found.toasts, "seq": found.seq})

    @router.post("/messages")
    async def post_message(request: Request, chat_id: str) -> JSONResponse:
        """``{"text", "reply_to"?, "name"?}`` → 202 with the logged message; the bot's
        replies follow through the log."""
        sender = await authorize(request, chat_id, True)
        try:
            data = await _body(request)
            text = _text(data, "text") or ""
            reply_to = _text(data, "reply_to", required=False) or None
            name = (_text(data, "name", required=False) or "").strip()[:MAX_NAME]
            if name:
                sender = dataclasses.replace(sender, display_name=name)
            badge = str(getattr(request.state, "chat_badge", ""))
            entry = await adapter.post(chat_id, sender, text, reply_to, badge)
        except ChatError as exc:
            return _error(exc)
        return JSONResponse({"message": as_json(entry)}, status_code=202)

    @router.post("/presses")
    async def press(request: Request, chat_id: str) -> JSONResponse:
        """``{"message_id", "action"}`` → 202; the answer comes as a toast or a message."""
        sender = await authorize(request, chat_id, True)
        try:
            data = await _body(request)
            await adapter.press(
                chat_id, sender, _text(data, "message_id") or "", _text(data, "action") or ""
            )
        except ChatError as exc:
            return _error(exc)
        return JSONResponse({"accepted": True}, status_code=202)

    return router
