"""DingTalk edge of hisbot (Stream mode, many tenants): see ``adapter.DingTalkAdapter``.

Translates robot message and card callbacks into ``adapters.base`` objects and ``Reply``
objects into sessionWebhook / OpenAPI calls; never imports the core (``bot/``, ``intents/``,
``kb_index/``).
"""

from .adapter import DingTalkAdapter
from .settings import DingTalkSettings, DingTalkTenant, TenantCredentials

__all__ = ["DingTalkAdapter", "DingTalkSettings", "DingTalkTenant", "TenantCredentials"]
