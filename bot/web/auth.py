"""Who is at the console: engineers' accounts, hospital access links, sessions, login limits.

Engineers sign in with their registry id and a password (argon2id hash), set from the CLI.
Hospital users open a per-hospital access link; the link's token is exchanged for a session
cookie at once, so it does not travel in every request. Both kinds of session live in the
database (restart-proof, revocable) and carry their own CSRF token. Only digests of tokens are
stored.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, delete
from sqlmodel import col, select

from bot.infra.clock import Clock, utc_now
from bot.registry.models import Engineer, EngineerRole, Hospital
from bot.registry.sessions import read_session, write_session
from bot.web.models import HospitalLink, WebAccount, WebAudit, WebSession
from bot.web.passwords import password_problem

_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user name is unknown, so a miss costs the same time as a hit
    (made on first use: hashing costs 0.2 s, which every import of this module paid)."""
    return _HASHER.hash("not-a-real-password-" + secrets.token_hex(8))


class AuthError(Exception):
    """A console account or link operation that cannot be done; the message says why."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str, user_inputs: Sequence[str] = ()) -> str:
    """The argon2id hash of an acceptable password; ``AuthError`` says why one is not."""
    problem = password_problem(password, user_inputs)
    if problem:
        raise AuthError(problem)
    return _HASHER.hash(password)


@dataclass(frozen=True)
class Viewer:
    """The person behind a request, as every page and action sees them."""

    kind: str  # "engineer" | "hospital" | "anonymous"
    name: str = ""
    engineer_id: str | None = None
    roles: frozenset[str] = frozenset()
    hospital_id: str | None = None
    link_id: int | None = None
    csrf_token: str = ""
    session_hash: str = ""

    @property
    def is_engineer(self) -> bool:
        return self.kind == "engineer"

    @property
    def is_hospital(self) -> bool:
        return self.kind == "hospital"

    @property
    def signed_in(self) -> bool:
        return self.kind != "anonymous"

    @property
    def audit_name(self) -> str:
        if self.is_engineer:
            return f"engineer:{self.engineer_id}"
        if self.is_hospital:
            return f"hospital:{self.hospital_id}#{self.link_id}"
        return "anonymous"

    @property
    def chat_user_id(self) -> str:
        """Who this viewer is as a user of the "web" platform (the playground's sender, a web
        ticket's reporter, the author of a follow-up): one id per engineer or access link."""
        return f"web:{self.engineer_id}" if self.is_engineer else f"web-link:{self.link_id}"

    def may_see_hospital(self, hospital_id: str) -> bool:
        return self.is_engineer or (self.is_hospital and self.hospital_id == hospital_id)


ANONYMOUS = Viewer(kind="anonymous")


@dataclass(frozen=True)
class AccountSummary:
    engineer_id: str
    name: str
    active: bool
    created_at: dt.datetime
    password_changed_at: dt.datetime


@dataclass(frozen=True)
class NewLink:
    """A freshly created access link: the token is shown once and never stored."""

    link: HospitalLink
    token: str


class ConsoleStore:
    """The console's tables: accounts, links, sessions and audit."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    # -- accounts ------------------------------------------------------------------------------

    def set_password(self, engineer_id: str, password: str, by: str = "cli") -> bool:
        """Create the engineer's login or change its password (re-activating it); ends the
        engineer's sessions. Returns True when the account is new."""
        with read_session(self._engine) as s:
            engineer = s.get(Engineer, engineer_id)
        if engineer is None:
            raise AuthError(
                f"no engineer {engineer_id} in the registry (add one with `hisbot engineer add`)"
            )
        hashed = hash_password(password, (engineer_id, engineer.name))
        now = self._clock()
        with write_session(self._engine) as s:
            row = s.get(WebAccount, engineer_id)
            created = row is None
            if row is None:
                row = WebAccount(
                    engineer_id=engineer_id,
                    password_hash=hashed,
                    created_at=now,
                    password_changed_at=now,
                )
            row.password_hash = hashed
            row.active = True
            row.password_changed_at = now
            s.add(row)
            s.exec(delete(WebSession).where(col(WebSession.engineer_id) == engineer_id))
            s.add(self._audit(by, "account_created" if created else "password_set", engineer_id))
        return created

    def disable_account(self, engineer_id: str, by: str = "cli") -> None:
        with write_session(self._engine) as s:
            row = s.get(WebAccount, engineer_id)
            if row is None:
                raise AuthError(f"engineer {engineer_id} has no console account")
            row.active = False
            s.add(row)
            s.exec(delete(WebSession).where(col(WebSession.engineer_id) == engineer_id))
            s.add(self._audit(by, "account_disabled", engineer_id))

    def accounts(self) -> list[AccountSummary]:
        with read_session(self._engine) as s:
            rows = s.exec(
                select(WebAccount, Engineer)
                .join(Engineer, col(Engineer.id) == col(WebAccount.engineer_id))
                .order_by(col(WebAccount.engineer_id))
            ).all()
            return [
                AccountSummary(a.engineer_id, e.name, a.active, a.created_at, a.password_changed_at)
                for a, e in rows
            ]

    def check_password(self, engineer_id: str, password: str) -> bool:
        """True for an active account with this password. Costs one argon2 verification
        whether or not the account exists."""
        with read_session(self._engine) as s:
            row = s.get(WebAccount, engineer_id)
        stored = row.password_hash if row is not None and row.active else _dummy_hash()
        try:
            ok = _HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        if ok and row is not None and row.active and _HASHER.check_needs_rehash(stored):
            with write_session(self._engine) as s:
                fresh = s.get(WebAccount, engineer_id)
                if fresh is not None:
                    fresh.password_hash = _HASHER.hash(password)
                    s.add(fresh)
        return ok and row is not None and row.active

    # -- hospital links ------------------------------------------------------------------------

    def create_link(self, hospital_id: str, label: str = "", by: str = "cli") -> NewLink:
        token = secrets.token_urlsafe(24)
        with write_session(self._engine) as s:
            if s.get(Hospital, hospital_id) is None:
                raise AuthError(f"no hospital {hospital_id} in the registry")
            link = HospitalLink(
                hospital_id=hospital_id,
                token_hash=digest(token),
                label=label,
                created_by=by,
                created_at=self._clock(),
            )
            s.add(link)
            s.flush()
            s.add(self._audit(by, "link_created", f"{hospital_id}#{link.id}", label))
        return NewLink(link, token)

    def revoke_link(self, link_id: int, by: str = "cli") -> HospitalLink:
        with write_session(self._engine) as s:
            link = s.get(HospitalLink, link_id)
            if link is None:
                raise AuthError(f"no access link {link_id}")
            if link.revoked_at is None:
                link.revoked_at = self._clock()
                s.add(link)
                s.exec(delete(WebSession).where(col(WebSession.link_id) == link_id))
                s.add(self._audit(by, "link_revoked", f"{link.hospital_id}#{link_id}"))
            return link

    def links(self, hospital_id: str | None = None) -> list[HospitalLink]:
        with read_session(self._engine) as s:
            stmt = select(HospitalLink).order_by(col(HospitalLink.id))
            if hospital_id is not None:
                stmt = stmt.where(HospitalLink.hospital_id == hospital_id)
            return list(s.exec(stmt).all())

    def link_for_token(self, token: str) -> HospitalLink | None:
        """The live link a token opens (None for unknown or revoked tokens)."""
        with read_session(self._engine) as s:
            link = s.exec(
                select(HospitalLink).where(HospitalLink.token_hash == digest(token))
            ).first()
        return link if link is not None and link.revoked_at is None else None

    # -- sessions ------------------------------------------------------------------------------

    def start_session(
        self,
        *,
        lifetime: dt.timedelta,
        engineer_id: str | None = None,
        link: HospitalLink | None = None,
    ) -> str:
        """A new session for an engineer or a hospital link; returns the cookie token."""
        if (engineer_id is None) == (link is None):
            raise ValueError("a session is an engineer's or a hospital link's")
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with write_session(self._engine) as s:
            s.exec(delete(WebSession).where(col(WebSession.expires_at) < now))
            s.add(
                WebSession(
                    token_hash=digest(token),
                    kind="engineer" if engineer_id else "hospital",
                    engineer_id=engineer_id,
                    hospital_id=link.hospital_id if link else None,
                    link_id=link.id if link else None,
                    csrf_token=secrets.token_urlsafe(24),
                    created_at=now,
                    expires_at=now + lifetime,
                )
            )
        return token

    def end_session(self, token_hash: str) -> None:
        with write_session(self._engine) as s:
            s.exec(delete(WebSession).where(col(WebSession.token_hash) == token_hash))

    def viewer_for(self, token: str) -> Viewer | None:
        """The viewer a session cookie stands for, or None (unknown, expired, disabled)."""
        hashed = digest(token)
        with read_session(self._engine) as s:
            row = s.get(WebSession, hashed)
            if row is None or row.expires_at <= self._clock():
                return None
            if row.kind == "engineer" and row.engineer_id:
                account = s.get(WebAccount, row.engineer_id)
                engineer = s.get(Engineer, row.engineer_id)
                if account is None or not account.active or engineer is None:
                    return None
                roles = frozenset(
                    s.exec(
                        select(EngineerRole.role).where(EngineerRole.engineer_id == engineer.id)
                    ).all()
                )
                return Viewer(
                    kind="engineer",
                    name=engineer.name,
                    engineer_id=engineer.id,
                    roles=roles,
                    csrf_token=row.csrf_token,
                    session_hash=hashed,
                )
            if row.kind == "hospital" and row.hospital_id and row.link_id is not None:
                link = s.get(HospitalLink, row.link_id)
                hospital = s.get(Hospital, row.hospital_id)
                if link is None or link.revoked_at is not None or hospital is None:
                    return None
                return Viewer(
                    kind="hospital",
                    name=hospital.name,
                    hospital_id=hospital.id,
                    link_id=link.id,
                    csrf_token=row.csrf_token,
                    session_hash=hashed,
                )
        return None

    # -- audit ---------------------------------------------------------------------------------

    def _audit(
        self, actor: str, action: str, target: str = "", detail: str = "", ip: str = ""
    ) -> WebAudit:
        return WebAudit(
            at=self._clock(),
            actor=actor,
            action=action,
            target=target[:120],
            detail=detail,
            ip=ip[:64],
        )

    def audit(
        self, actor: str, action: str, target: str = "", detail: str = "", ip: str = ""
    ) -> None:
        """Record one console action (who, what, on what)."""
        with write_session(self._engine) as s:
            s.add(self._audit(actor, action, target, detail, ip))

    def audit_search(
        self,
        *,
        actor: str = "",
        action: str = "",
        target: str = "",
        since: dt.datetime | None = None,
        before: dt.datetime | None = None,
        limit: int = 500,
    ) -> list[WebAudit]:
        """The newest ``limit`` records matching every filter given: ``actor`` and ``target``
        are substrings (an engineer id, a ticket number), ``action`` exact, times UTC."""
        with read_session(self._engine) as s:
            stmt = select(WebAudit).order_by(col(WebAudit.id).desc()).limit(limit)
            if actor:
                stmt = stmt.where(col(WebAudit.actor).contains(actor, autoescape=True))
            if action:
                stmt = stmt.where(WebAudit.action == action)
            if target:
                stmt = stmt.where(col(WebAudit.target).contains(target, autoescape=True))
            if since is not None:
                stmt = stmt.where(col(WebAudit.at) >= since)
            if before is not None:
                stmt = stmt.where(col(WebAudit.at) < before)
            return list(s.exec(stmt).all())

    def audit_of(self, target: str, actions: Sequence[str]) -> list[WebAudit]:
        """The audit records of these actions on one target, oldest first."""
        with read_session(self._engine) as s:
            stmt = (
                select(WebAudit)
                .where(WebAudit.target == target[:120])
                .where(col(WebAudit.action).in_(list(actions)))
                .order_by(col(WebAudit.id))
            )
            return list(s.exec(stmt).all())


def same_token(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens (empty never matches)."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
