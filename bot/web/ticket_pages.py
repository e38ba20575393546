"""(placeholder: filled in by its own work item)"""

from __future__ import annotations

from fastapi import APIRouter

from bot.web.app import Console


def routes(console: Console) -> APIRouter:
    return APIRouter()
