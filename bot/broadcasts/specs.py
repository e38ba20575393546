"""A notice before it reaches the database: its content (``NoticeDraft``) and who receives it
(``Targets``), checked when built.

Both come from two places — CLI options and the ``key: value`` lines of a ``/notice create``
message — so the parsing of the chat form lives here too, next to the checks it feeds.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from bot.broadcasts.errors import NoticeInvalid
from bot.broadcasts.models import NoticeKind, TargetKind
from bot.broadcasts.settings import parse_duration, parse_local
from bot.registry.models import Hospital

#: A notice must fit one platform message (Telegram: 4096 UTF-16 units). A longer one would be
#: split by the adapter, and a retry after a failure between the parts would repeat the first.
MAX_CHARS = 3000


_TARGET_KEYS = {
    "region": TargetKind.REGION,
    "地区": TargetKind.REGION,
    "his": TargetKind.HIS_VERSION,
    "his_version": TargetKind.HIS_VERSION,
    "版本": TargetKind.HIS_VERSION,
    "module": TargetKind.MODULE,
    "模块": TargetKind.MODULE,
    "hospital": TargetKind.HOSPITAL,
    "医院": TargetKind.HOSPITAL,
}
_TARGET_LABELS = {
    TargetKind.REGION: "地区",
    TargetKind.HIS_VERSION: "HIS版本",
    TargetKind.MODULE: "模块",
    TargetKind.HOSPITAL: "医院",
}


@dataclass(frozen=True)
class Targets:
    """Everyone, or filters: values of one filter are alternatives, filters must all match
    (``regions=("华东","华南"), modules=("住院",)`` = 住院 hospitals in either region)."""

    everyone: bool = False
    regions: tuple[str, ...] = ()
    his_versions: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    hospitals: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        filters = self.regions or self.his_versions or self.modules or self.hospitals
        if self.everyone and filters:
            raise NoticeInvalid("targets: 'all' cannot be combined with filters")
        if not self.everyone and not filters:
            raise NoticeInvalid(
                "targets: say who receives it ('all', or region/his/module/hospital)"
            )

    @classmethod
    def parse(cls, text: str) -> Targets:
        """ "all" / "全部", or "region=华东,华南 his=5.2.* module=住院 hospital=h001,h002"."""
        text = text.strip()
        if text.lower() in ("all", "全部", "*"):
            return cls(everyone=True)
        found: dict[TargetKind, list[str]] = {}
        for token in text.replace(";", " ").replace("；", " ").split():
            key, sep, values = token.replace("＝", "=").partition("=")
            kind = _TARGET_KEYS.get(key.strip().lower())
            if not sep or kind is None:
                raise NoticeInvalid(
                    f"targets: {token!r} is not 'region=…', 'his=…', 'module=…' or 'hospital=…'"
                )
            found.setdefault(kind, []).extend(
                v.strip() for v in values.replace("，", ",").split(",") if v.strip()
            )
        return cls.from_rows((k, v) for k, vs in found.items() for v in vs)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str]]) -> Targets:
        by: dict[str, list[str]] = {}
        for kind, value in rows:
            by.setdefault(kind, []).append(value)
        return cls(
            everyone=TargetKind.ALL in by,
            regions=tuple(dict.fromkeys(by.get(TargetKind.REGION, []))),
            his_versions=tuple(dict.fromkeys(by.get(TargetKind.HIS_VERSION, []))),
            modules=tuple(dict.fromkeys(by.get(TargetKind.MODULE, []))),
            hospitals=tuple(dict.fromkeys(by.get(TargetKind.HOSPITAL, []))),
        )

    def rows(self) -> list[tuple[str, str]]:
        if self.everyone:
            return [(TargetKind.ALL, "*")]
        return [(kind, v) for kind, values in self._filters() for v in values]

    def _filters(self) -> list[tuple[TargetKind, tuple[str, ...]]]:
        return [
            (TargetKind.REGION, self.regions),
            (TargetKind.HIS_VERSION, self.his_versions),
            (TargetKind.MODULE, self.modules),
            (TargetKind.HOSPITAL, self.hospitals),
        ]

    def matches(self, hospital: Hospital, modules: Collection[str]) -> bool:
        if self.everyone:
            return True
        if self.regions and hospital.region not in self.regions:
            return False
        if self.his_versions and not any(
            fnmatch.fnmatchcase(hospital.his_version, p) for p in self.his_versions
        ):
            return False
        if self.modules and not set(self.modules) & set(modules):
            return False
        return not self.hospitals or hospital.id in self.hospitals

    def describe(self) -> str:
        if self.everyone:
            return "全部医院"
        return "；".join(
            f"{_TARGET_LABELS[kind]}={','.join(values)}"
            for kind, values in self._filters()
            if values
        )


@dataclass(frozen=True)
class NoticeDraft:
    """The content of a notice. ``body`` is the announcement text, or what a patch fixes.
    ``reminders`` (upgrade windows): offsets before the start; None = the configured ones."""

    kind: NoticeKind
    targets: Targets
    title: str = ""
    body: str = ""
    product: str = ""
    module: str = ""
    version: str = ""
    download_url: str = ""
    checksum: str = ""
    action: str = ""
    deadline: dt.datetime | None = None
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    modules: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    reminders: tuple[dt.timedelta, ...] | None = None
    urgent: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", NoticeKind(self.kind))
        need: dict[NoticeKind, tuple[str, ...]] = {
            NoticeKind.PATCH: ("version", "body", "download_url", "checksum", "action", "deadline"),
            NoticeKind.UPGRADE: ("window_start", "window_end", "modules", "action"),
            NoticeKind.ANNOUNCEMENT: ("title", "body"),
        }
        missing = [n for n in need[self.kind] if not getattr(self, n)]
        if self.kind is NoticeKind.PATCH and not (self.product or self.module):
            missing.insert(0, "product/module")
        if missing:
            raise NoticeInvalid(f"a {self.kind} notice needs: {', '.join(missing)}")
        if self.window_start and self.window_end and self.window_end <= self.window_start:
            raise NoticeInvalid("the upgrade window must end after it starts")
        if any(r <= dt.timedelta(0) for r in self.reminders or ()):
            raise NoticeInvalid("reminders are offsets before the window, like 24h or 1h")
        if self.download_url and not self.download_url.startswith(("https://", "http://")):
            raise NoticeInvalid(f"download link {self.download_url!r} is not an http(s) URL")
        size = sum(len(str(v)) for v in (self.title, self.body, self.action, *self.modules))
        if size > MAX_CHARS:
            raise NoticeInvalid(f"the notice is too long ({size} > {MAX_CHARS} characters)")

    @property
    def display_title(self) -> str:
        if self.title:
            return self.title
        if self.kind is NoticeKind.PATCH:
            return " ".join(p for p in (self.product, self.module, self.version) if p) + " 补丁"
        if self.kind is NoticeKind.UPGRADE:
            return f"{'、'.join(self.modules)} 升级"
        return "公告"


# -- the chat form: "key: value" lines --------------------------------------------------------

_FIELD_KEYS = {
    "title": "title", "标题": "title",
    "text": "body", "body": "body", "内容": "body", "fixes": "body", "修复": "body",
    "修复内容": "body", "说明": "body",
    "product": "product", "产品": "product",
    "module": "module", "模块": "module",
    "version": "version", "版本": "version",
    "download": "download_url", "url": "download_url", "下载": "download_url",
    "下载地址": "download_url",
    "checksum": "checksum", "校验": "checksum", "校验值": "checksum",
    "action": "action", "操作": "action", "需要操作": "action", "升级前": "action",
    "deadline": "deadline", "截止": "deadline", "截止时间": "deadline",
    "start": "window_start", "开始": "window_start",
    "end": "window_end", "结束": "window_end",
    "modules": "modules", "影响模块": "modules",
    "services": "services", "影响服务": "services",
    "remind": "reminders", "reminders": "reminders", "提醒": "reminders",
    "target": "targets", "targets": "targets", "目标": "targets",
    "urgent": "urgent", "紧急": "urgent",
}  # fmt: skip


def parse_fields(lines: Iterable[str]) -> dict[str, str]:
    """``key: value`` lines (full-width colons too) → canonical field names; a line without a
    key continues the previous value."""
    out: dict[str, str] = {}
    last: str | None = None
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        head, sep, value = line.replace("：", ":", 1).partition(":")
        key = _FIELD_KEYS.get(head.strip().lower()) if sep else None
        if key is None:
            if last is None:
                raise NoticeInvalid(f"unknown field in {line!r} (write 'key: value')")
            out[last] += "\n" + line
            continue
        out[key] = value.strip()
        last = key
    return out


def _split(value: str) -> tuple[str, ...]:
    return tuple(
        v.strip() for v in value.replace("，", ",").replace("、", ",").split(",") if v.strip()
    )


def draft_from_fields(kind: str, fields: Mapping[str, str], tz: dt.tzinfo) -> NoticeDraft:
    """A draft from canonical field names (``parse_fields``; the CLI builds the same) with
    text values; times are local to ``tz`` unless they carry an offset."""
    try:
        notice_kind = NoticeKind(kind.strip().lower())
    except ValueError:
        raise NoticeInvalid(f"kind must be patch, upgrade or announcement, not {kind!r}") from None
    if not fields.get("targets"):
        raise NoticeInvalid("say who receives it: a 'target:' line ('all' or filters)")
    text = fields.get

    def when(name: str) -> dt.datetime | None:
        return parse_local(fields[name], tz) if fields.get(name) else None

    try:
        reminders: tuple[dt.timedelta, ...] | None = None
        if "reminders" in fields:
            value = fields["reminders"].strip().lower()
            off = value in ("none", "no", "off", "无", "0")
            reminders = () if off else tuple(map(parse_duration, _split(value)))
        return NoticeDraft(
            notice_kind,
            Targets.parse(fields["targets"]),
            title=text("title", ""),
            body=text("body", ""),
            product=text("product", ""),
            module=text("module", ""),
            version=text("version", ""),
            download_url=text("download_url", ""),
            checksum=text("checksum", ""),
            action=text("action", ""),
            deadline=when("deadline"),
            window_start=when("window_start"),
            window_end=when("window_end"),
            modules=_split(text("modules", "")),
            services=_split(text("services", "")),
            reminders=reminders,
            urgent=text("urgent", "").strip().lower() in ("yes", "true", "1", "是"),
        )
    except NoticeInvalid:
        raise
    except ValueError as exc:
        raise NoticeInvalid(str(exc)) from exc
