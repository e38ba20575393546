"""A relayed reply reaches the connection's holder as it was sent: every field of ``Reply``
survives the ``relayed_send`` payload."""

from __future__ import annotations

from adapters.base import Button, ChatRef, Citation, Reply
from bot.cluster.relay import decode_reply, encode_reply


def test_a_reply_with_citation_buttons_and_mentions_round_trips() -> None:
    reply = Reply(
        chat=ChatRef("wecom", "vendor/wrkDESK", thread_id="t1"),
        text="工单 #2026-000123 第一人民医院：医保结算报错",
        reply_to="msg0001",
        citation=Citation("hb-002", "医保结算", "http://kb/hb-002"),
        buttons=(
            (Button("接单", "claim:2026-000123"), Button("详情", "show:1")),
            (Button("x", "y"),),
        ),
        mention_user_ids=("vendor/wanggong", "vendor/li"),
    )
    assert decode_reply(encode_reply(reply)) == reply
    plain = Reply(ChatRef("wecom", "h001/g1"), "今晚维护")
    assert decode_reply(encode_reply(plain)) == plain
