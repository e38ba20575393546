"""Every sentence the bot says, in one place: wording is product, not code.

Functions take plain values and return plain text; adapters decide how to show it.
"""

from __future__ import annotations

import re

from kb_index.text import simplified

SOLVED = "已解决"
UNSOLVED = "没解决，转工程师"
TO_ENGINEER = "转工程师"
NONE_OF_THESE = "都不是，转工程师"
CONFIRM_YES = "是"
CONFIRM_NO = "不是，转工程师"
CLAIM = "接单"
#: The toast of a button no handler takes (another bot's, an old format, a stale choice).
BUTTON_EXPIRED = "这个按钮已失效。"

URGENCY_LABELS = {"P1": "P1 紧急", "P2": "P2 高", "P3": "P3 普通", "P4": "P4 低"}
STATUS_LABELS = {
    "new": "待接单",
    "accepted": "已受理",
    "in_progress": "处理中",
    "resolved": "已解决",
    "closed": "已关闭",
}
#: Audit-trail entries as the console shows them.
EVENT_LABELS = {
    "opened": "登记",
    "accepted": "受理",
    "assigned": "指派",
    "status_changed": "状态变更",
    "category_changed": "分类变更",
    "urgency_changed": "紧急程度变更",
    "note": "内部备注",
    "relayed_to_hospital": "回复医院",
    "relayed_to_engineers": "医院补充",
    "resolved": "解决",
    "closed": "关闭",
    "reopened": "重新打开",
    "card_posted": "派单到工程师群",
    "erased": "个人信息已删除",
    # bot.workflows: remote access with consent, escalation level, on-site visits
    "remote_requested": "申请远程协助",
    "remote_granted": "医院同意远程",
    "remote_refused": "医院拒绝远程",
    "remote_revoked": "医院撤销远程授权",
    "level_changed": "服务方式变更",
    "visit_planned": "计划现场服务",
    "visit_arrived": "工程师到场",
    "visit_departed": "工程师离场",
    "visit_confirmed": "医院确认现场服务",
}
CATEGORY_LABELS = {
    "consult": "咨询",
    "install": "安装",
    "usage": "使用",
    "upgrade": "升级",
    "report": "报表",
    "data-fix": "数据修正",
    "insurance": "医保",
    "lis": "LIS",
    "pacs": "PACS",
    "data-report": "数据上报",
    "third-party": "第三方接口",
}


def event_value(kind: str, value: str | None) -> str:
    """A value in the audit trail as people read it (a status, a category or an urgency)."""
    if value is None:
        return ""
    labels = {"category_changed": CATEGORY_LABELS, "urgency_changed": URGENCY_LABELS}
    return labels.get(kind, STATUS_LABELS).get(value, value)


#: Follow-ups that mean "the answer did not help" (in the same thread as the answer).
UNSOLVED_PHRASE = re.compile(
    r"还是不行|还不行|没用|不管用|没解决|没有解决|解决不了|不好使|试了.{0,6}(不行|没用|一样)|"
    r"还是一样|依然|仍然|照样|还是报|还是提示|还是出现|转人工|找工程师|人工"
)


def says_unsolved(text: str) -> bool:
    return UNSOLVED_PHRASE.search(simplified(text)) is not None


def without_unsolved(text: str) -> str:
    """The text with its "did not help" phrases taken out (what is left may be a question)."""
    return UNSOLVED_PHRASE.sub("", text)


def answer_delayed() -> str:
    """Said once per chat while the bot cannot record messages (database unavailable)."""
    return "机器人暂时无法记录消息，回复会延迟；您的消息不会丢失，恢复后会按顺序处理，无需重发。"


def unregistered_group() -> str:
    return "您好，本群尚未登记为服务医院群，暂时无法提供自动答疑。请联系贵院信息科或我司客服经理登记后再使用。"


def answer(title: str, steps: str) -> str:
    return f"【{title}】\n{steps.strip()}\n\n以上步骤能解决吗？请点下方按钮告诉我。"


def clarify() -> str:
    return "您说的可能是下面几种情况之一，请点选最接近的一项："


def confirm(title: str) -> str:
    return f"是这个问题吗？《{title}》"


def confirmed(title: str) -> str:
    return f"是这个问题吗？《{title}》\n✔ 是，处理步骤见下方。"


def unsolved_to_ticket(number: str) -> str:
    """Under an answer whose 没解决 was pressed (its buttons gone)."""
    return f"❌ 没解决，已转工程师：工单 #{number}"


def sent_to_ticket(number: str) -> str:
    """Under a question the bot asked when the user chose 转工程师 (its buttons gone)."""
    return f"➡️ 已转工程师：工单 #{number}"


def offer_escalation() -> str:
    return "这个问题知识库里暂时没有现成答案。需要的话，点「转工程师」为您登记工单。"


def ticket_opened(number: str, urgent: bool) -> str:
    """Without SLA paging nobody has been called yet: say only that it is queued."""
    if urgent:
        return (
            f"已按紧急故障登记工单 #{number}，已排在工程师队列最前，工程师接单后会立即在本群回复。"
        )
    return f"已为您登记工单 #{number}，工程师接单后会在本群回复。"


def ticket_exists(number: str) -> str:
    return f"这个问题已登记为工单 #{number}，工程师会在本群回复。"


def describe_directly() -> str:
    """To a bare 「在吗」 addressed to the bot: once per person per gathering window."""
    return "请直接描述问题（可以附截图），我马上帮您看。"


def already_registered(number: str) -> str:
    """The same person asking again about their open ticket."""
    return f"您的问题已登记为工单 #{number}，正在处理；您刚才的补充已转给工程师。"


def incident_joined(number: str, reporters: int) -> str:
    """Another person of the hospital reporting the outage an open P1 already covers."""
    return (
        f"同一故障已登记为紧急工单 #{number}（已有 {reporters} 人报告），工程师正在处理，"
        "恢复后会在这里通知您。"
    )


def same_problem_joined(number: str, reporters: int) -> str:
    """「我们这边也是」 under a ticket someone else opened: one ticket, everyone told."""
    return (
        f"已记下：您遇到的是同一问题，已并入工单 #{number}（现有 {reporters} 人反映），"
        "处理完成后会在这里一并通知您。不是同一问题的话，请点下方按钮。"
    )


NOT_SAME_PROBLEM = "不是同一问题"


def left_same_problem(number: str) -> str:
    """The notice of a 「我也是」 join, once the person pressed 不是同一问题."""
    return f"已把您从工单 #{number} 移出。请直接描述您遇到的情况（可以附截图），我来帮您看。"


def not_same_not_yours() -> str:
    return "只有并入工单的人可以选择。"


def raised_to_p1(reporters: int) -> str:
    """The ticket became a P1 because several people of the hospital reported it."""
    return f"同一问题已有 {reporters} 人反映，可能是系统故障，已升级为紧急工单。"


def reopened_by_hospital(number: str) -> str:
    """After 「还是不行」 under a resolution."""
    return f"工单 #{number} 已重新打开，已通知工程师继续处理。"


def which_follow_up() -> str:
    return "您说的是哪个问题还不行？请点选："


def nudge_waiting(number: str, minutes: int) -> str:
    """「怎么还没人回」 while the person's ticket waits to be accepted."""
    return f"工单 #{number} 还在等工程师受理（已等 {minutes} 分钟），已在工程师群再次提醒。"


def nudge_in_hand(number: str, engineer: str) -> str:
    """「进度怎么样了」 once an engineer has the ticket."""
    return f"工单 #{number} 已由{engineer}受理，正在处理；已把您的催问转给{engineer}。"


def outage_status(number: str, engineer: str | None, minutes: int) -> str:
    """「恢复了吗」 asked while the hospital's outage (a P1) is open."""
    where = f"{engineer}已受理，正在处理" if engineer else f"{minutes} 分钟前登记，已通知工程师"
    return f"本院的故障已登记为 P1 工单 #{number}，{where}；恢复后会在这里告知。"


def nudge_unknown() -> str:
    """A nudge addressed to the bot by someone with no open ticket."""
    return "没有找到您在等待的工单。请直接描述遇到的问题（可以附截图），我来登记。"


def follow_up_unknown() -> str:
    return "请问是哪个问题还不行？请直接回复那条消息，或把问题再描述一下。"


def follow_up_not_yours() -> str:
    return "只有提问的人可以选择。"


def only_reporter() -> str:
    return "只有报告人或工程师可以更正分类。"


def category_set(number: str, label: str) -> str:
    return f"工单 #{number} 的分类已改为「{label}」。"


def category_line(label: str) -> str:
    """Under a ticket notice with the category buttons."""
    return f"\n分类：{label}（不对的话点下方按钮更正）"


def accepted(engineer_name: str, number: str) -> str:
    return f"工程师 {engineer_name} 已受理工单 #{number}。"


def resolved(number: str, resolution: str) -> str:
    return f"工单 #{number} 已处理完成。\n处理方式：{resolution}\n如仍有问题，直接回复本消息即可。"


def reopened(number: str) -> str:
    return f"工单 #{number} 已重新打开，工程师会继续跟进。"


def relayed_from_engineer(engineer_name: str, number: str, text: str) -> str:
    return f"【工单 #{number} · 工程师 {engineer_name}】\n{text}"


def relayed_from_hospital(hospital_name: str, reporter: str, number: str, text: str) -> str:
    return f"【#{number} · {hospital_name} · {reporter}】\n{text}"


def thanks_solved() -> str:
    return "感谢反馈，很高兴问题已解决。"


def mention_ack() -> str:
    return "您好，有问题直接发在群里就行，我会尽量解答。"


def not_found(number: str) -> str:
    return f"没有找到工单 #{number}。"


def only_engineers() -> str:
    return "只有登记的工程师可以执行这个操作。"


def digest_reply_needs_number(example: str) -> str:
    """A reply to a desk digest that does not start with one of its tickets' numbers."""
    return f"这是新工单汇总：回复时请以其中的工单号开头，例如「{example} 请先重启读卡器」。"
