"""Notices from creation to confirmation: who may do what, and a record of every attempt.

Life of a notice::

    draft ──test copy to the engineers' chat──▶ (tested) ──confirm [at T]──▶ scheduled
      scheduled ──notice wave fires──▶ sending ──nothing pending──▶ sent
      draft/scheduled/sending ──cancel──▶ cancelled      scheduled ──time passed while down──▶ missed
      missed ──confirm──▶ scheduled (an engineer decides to send it after all)

Rules the store enforces: only engineers with the ``broadcaster`` role create, test, confirm,
cancel, follow up or resend (``NotBroadcaster`` otherwise, after writing the refused attempt
to ``notice_audit``); any registered engineer may read (preview, status). A notice is confirmed
only after its test copy reached the engineers' chat (unless an engineer explicitly skips the
test, which is audited too). The content is fixed once created, so one test copy covers it.
Every call is one transaction; the clock is injected.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlmodel import select

from adapters.base import ChatRef
from bot.broadcasts.access import Actor, NoticeReader, audit_in, notice_in
from bot.broadcasts.errors import NoticeInvalid, NoticeStateError
from bot.broadcasts.models import (
    DeliveryStatus,
    ItemKind,
    Notice,
    NoticeItem,
    NoticeKind,
    NoticeStatus,
    NoticeTarget,
    NoticeWave,
    WaveKind,
    WaveStatus,
)
from bot.broadcasts.specs import NoticeDraft
from bot.broadcasts.targeting import resolve
from bot.broadcasts.waves import new_delivery, targets_of
from bot.infra.clock import as_utc
from bot.registry.models import Hospital
from bot.registry.sessions import write_session

_OPEN = (NoticeStatus.DRAFT, NoticeStatus.MISSED, NoticeStatus.SCHEDULED)


class BroadcastStore(NoticeReader):
    # -- changing -----------------------------------------------------------------------------

    def create(self, draft: NoticeDraft, by: Actor) -> Notice:
        engineer = self.authorize(by, "create")
        now = self.now()
        with write_session(self._engine) as s:
            known = {h for h in s.exec(select(Hospital.id)).all()}
            unknown = [h for h in draft.targets.hospitals if h not in known]
            if unknown:
                raise NoticeInvalid(f"targets: no hospital {', '.join(unknown)}")
            notice = Notice(
                kind=draft.kind,
                title=draft.display_title,
                body=draft.body,
                product=draft.product,
                module=draft.module,
                version=draft.version,
                download_url=draft.download_url,
                checksum=draft.checksum,
                action=draft.action,
                deadline=draft.deadline,
                window_start=draft.window_start,
                window_end=draft.window_end,
                urgent=draft.urgent,
                created_by=engineer.id,
                created_at=now,
                updated_at=now,
            )
            s.add(notice)
            s.flush()
            assert notice.id is not None
            items = [(ItemKind.MODULE, v, i) for i, v in enumerate(draft.modules)]
            items += [(ItemKind.SERVICE, v, i) for i, v in enumerate(draft.services)]
            for item_kind, value, i in items:
                s.add(NoticeItem(notice_id=notice.id, kind=item_kind, value=value, position=i))
            for target_kind, value in draft.targets.rows():
                s.add(NoticeTarget(notice_id=notice.id, kind=target_kind, value=value))
            s.add(NoticeWave(notice_id=notice.id, kind=WaveKind.MAIN))
            if draft.kind is NoticeKind.UPGRADE and draft.window_start is not None:
                offsets = (
                    self.settings.reminder_offsets if draft.reminders is None else draft.reminders
                )
                for off in dict.fromkeys(offsets):
                    s.add(
                        NoticeWave(
                            notice_id=notice.id,
                            kind=WaveKind.REMINDER,
                            offset_minutes=int(off.total_seconds() // 60),
                            due_at=draft.window_start - off,
                        )
                    )
            detail = f"{draft.kind}: {notice.title}; targets {draft.targets.describe()}"
            audit_in(s, now, by, "create", notice.id, True, detail)
        return notice

    def request_test(self, notice_id: int, by: Actor, desk_chats: Sequence[ChatRef]) -> int:
        """Queue the test copy for the engineers' chats (again, where it failed). Returns the
        wave id; the outbox sends it (at once when the chat command asks)."""
        self.authorize(by, "test", notice_id)
        if not desk_chats:
            raise NoticeStateError(
                "no engineers' chat is configured ([telegram] engineers_chat): "
                "the test copy has nowhere to go"
            )
        now = self.now()
        with write_session(self._engine) as s:
            notice = notice_in(s, notice_id)
            if notice.status not in (
                NoticeStatus.DRAFT,
                NoticeStatus.MISSED,
                NoticeStatus.SCHEDULED,
            ):
                raise NoticeStateError(f"notice #{notice_id} is {notice.status}: nothing to test")
            wave = s.exec(
                select(NoticeWave).where(
                    NoticeWave.notice_id == notice_id, NoticeWave.kind == WaveKind.TEST
                )
            ).first()
            if wave is None:
                wave = NoticeWave(notice_id=notice_id, kind=WaveKind.TEST, due_at=now, fired_at=now)
                wave.status = WaveStatus.FIRED
                s.add(wave)
                s.flush()
            assert wave.id is not None
            existing = {
                (d.platform, d.chat_id): d
                for d in self.deliveries.of_notice(notice_id, WaveKind.TEST)
            }
            for chat in desk_chats:
                d = existing.get((chat.platform, chat.chat_id))
                if d is None:
                    s.add(
                        new_delivery(
                            notice_id, wave.id, (None, chat.platform, chat.chat_id, None), now
                        )
                    )
                elif d.status in (
                    DeliveryStatus.FAILED,
                    DeliveryStatus.GAVE_UP,
                    DeliveryStatus.UNKNOWN,
                ):
                    d.status, d.next_attempt_at, d.updated_at = DeliveryStatus.QUEUED, now, now
                    d.resends += 1  # a new send, under a new key in the outbox
                    s.add(d)
            audit_in(s, now, by, "test", notice_id, True, f"{len(desk_chats)} engineers' chat(s)")
            return wave.id

    def confirm(
        self, notice_id: int, by: Actor, at: dt.datetime | None = None, skip_test: bool = False
    ) -> Notice:
        """Send the notice at ``at`` (None: now): the notice wave and its reminders are armed."""
        action = "schedule" if at is not None else "send"
        engineer = self.authorize(by, action, notice_id)
        now = self.now()
        due = as_utc(at) if at is not None else now
        if due < now - dt.timedelta(minutes=1):
            raise NoticeInvalid(f"{self.settings.local(due)} is in the past")
        state = self.test_state(notice_id)
        if not skip_test and state != "sent":
            raise NoticeStateError(
                f"the test copy of notice #{notice_id} has not reached the engineers' chat "
                f"({state}); send it first and check it there"
            )
        with write_session(self._engine) as s:
            notice = notice_in(s, notice_id)
            if notice.status not in (
                NoticeStatus.DRAFT,
                NoticeStatus.MISSED,
                NoticeStatus.SCHEDULED,
            ):
                raise NoticeStateError(f"notice #{notice_id} is already {notice.status}")
            groups = resolve(s, targets_of(s, notice_id)).groups
            if not groups:
                raise NoticeStateError(
                    f"no active group matches the targets of notice #{notice_id}"
                )
            for wave in s.exec(select(NoticeWave).where(NoticeWave.notice_id == notice_id)).all():
                if wave.kind == WaveKind.MAIN:
                    wave.status, wave.due_at, wave.note = WaveStatus.SCHEDULED, due, ""
                elif wave.kind == WaveKind.REMINDER and wave.status != WaveStatus.FIRED:
                    early = wave.due_at is None or as_utc(wave.due_at) <= due
                    wave.status = WaveStatus.SKIPPED if early else WaveStatus.SCHEDULED
                    wave.note = "would come before the notice itself" if early else ""
                s.add(wave)
            notice.status, notice.send_at = NoticeStatus.SCHEDULED, due
            notice.confirmed_by, notice.updated_at = engineer.id, now
            s.add(notice)
            detail = f"at {self.settings.local(due)}, {len(groups)} groups" + (
                "; WITHOUT a test copy" if skip_test else ""
            )
            audit_in(s, now, by, action, notice_id, True, detail)
        return notice

    def cancel(self, notice_id: int, by: Actor) -> tuple[Notice, int]:
        """Stop what has not gone out yet; returns the notice and the deliveries cancelled."""
        self.authorize(by, "cancel", notice_id)
        now = self.now()
        with write_session(self._engine) as s:
            notice = notice_in(s, notice_id)
            if notice.status == NoticeStatus.CANCELLED:
                raise NoticeStateError(f"notice #{notice_id} is already cancelled")
            if notice.status != NoticeStatus.SENT:
                notice.status, notice.updated_at = NoticeStatus.CANCELLED, now
                s.add(notice)
        cancelled = self.waves.cancel_pending(notice_id, now)
        self.audit(by, "cancel", notice_id, True, f"{cancelled} queued deliveries cancelled")
        return self.get(notice_id), cancelled

    def follow_up(self, notice_id: int, kind: WaveKind, by: Actor, note: str = "") -> NoticeWave:
        """ "started" / "completed" of an upgrade window: to every group the notice reached."""
        self.authorize(by, str(kind), notice_id)
        if kind not in (WaveKind.STARTED, WaveKind.COMPLETED):
            raise NoticeInvalid(f"{kind} is not a follow-up")
        now = self.now()
        with write_session(self._engine) as s:
            notice = notice_in(s, notice_id)
            if notice.kind != NoticeKind.UPGRADE:
                raise NoticeStateError(f"notice #{notice_id} is not an upgrade window")
            if notice.status not in (NoticeStatus.SENDING, NoticeStatus.SENT):
                raise NoticeStateError(f"notice #{notice_id} has not been sent ({notice.status})")
            done = s.exec(
                select(NoticeWave).where(NoticeWave.notice_id == notice_id, NoticeWave.kind == kind)
            ).first()
            if done is not None:
                raise NoticeStateError(
                    f"the '{kind}' follow-up of notice #{notice_id} was already sent"
                )
            wave = NoticeWave(notice_id=notice_id, kind=kind, due_at=now, note=note)
            wave.status = WaveStatus.SCHEDULED
            s.add(wave)
            audit_in(s, now, by, str(kind), notice_id, True, note)
        return wave

    def resend(self, notice_id: int, by: Actor, hospital_ids: Sequence[str] = ()) -> int:
        """Queue the notice again where it failed, gave up or is unknown: an engineer choosing
        at-least-once for those groups (an 'unknown' one may then get it twice)."""
        self.authorize(by, "resend", notice_id)
        self.get(notice_id)
        statuses = (DeliveryStatus.UNKNOWN, DeliveryStatus.FAILED, DeliveryStatus.GAVE_UP)
        count = self.deliveries.requeue(notice_id, hospital_ids, statuses, self.now())
        scope = ", ".join(hospital_ids) or "all hospitals"
        self.audit(by, "resend", notice_id, True, f"{count} deliveries queued again ({scope})")
        return count
