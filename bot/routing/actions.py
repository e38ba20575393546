"""Button actions as typed values: the one module that turns them into strings and back.

A platform carries a button's action as a short string (Telegram: 1–64 bytes of callback
data; a longer one makes the whole message fail, and the user gets no reply). So every action
type is a frozen dataclass declared with ``@action("prefix")``, whose fields are non-negative
ints, StrEnums or strings with a declared byte bound (``Annotated[str, MaxBytes(16)]``): the
longest string the type can encode to is computed when the class is declared, and a type that
could overflow is refused then, not when a hospital presses the button. A value without a
bound (an article id) never goes into a button: a short handle does (its position in a stored
list, or a stored row's id).

The wire form is ``prefix:field:field…`` (the forms buttons already in chats carry).
``ActionCodec`` maps prefixes back to types; a prefix registered twice is an error.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

#: Telegram's limit on callback data (Slack's ``value`` allows 2,000 characters).
WIRE_LIMIT = 64
SEP = ":"
#: A non-negative int without a declared bound: anything below 2**63 (a database id).
INT_DIGITS = 19

_DIGITS = re.compile(r"[0-9]+")
_PREFIX = re.compile(r"[a-z][a-z0-9-]*")

A = TypeVar("A")


class ActionError(ValueError):
    """An action type that could overflow the wire limit, a clashing prefix, or a value
    outside its declared bound (a programming error, raised where it is made)."""


@dataclass(frozen=True)
class MaxBytes:
    """The most UTF-8 bytes a string (or digits an int) field may take on the wire."""

    limit: int


@dataclass(frozen=True)
class _Field:
    name: str
    kind: type[Any]  # int, str or a StrEnum
    bound: int

    def dump(self, value: object) -> str:
        if self.kind is int:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ActionError(f"{self.name} must be a non-negative int, not {value!r}")
            text = str(value)
        elif issubclass(self.kind, enum.Enum):
            text = str(self.kind(value).value)
        else:
            if not isinstance(value, str) or not value or SEP in value:
                raise ActionError(f"{self.name} must be a non-empty string without {SEP!r}")
            text = value
        if len(text.encode("utf-8")) > self.bound:
            raise ActionError(f"{self.name} {text!r} is longer than its bound ({self.bound})")
        return text

    def load(self, text: str) -> object | None:
        if len(text.encode("utf-8")) > self.bound or not text:
            return None
        if self.kind is int:
            return int(text) if _DIGITS.fullmatch(text) else None
        if issubclass(self.kind, enum.Enum):
            try:
                return self.kind(text)
            except ValueError:
                return None
        return text


def _fields_of(cls: type[Any]) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        bound: int | None = None
        if typing.get_origin(hint) is typing.Annotated:
            hint, *extra = typing.get_args(hint)
            bound = next((m.limit for m in extra if isinstance(m, MaxBytes)), None)
        if hint is int:
            out.append(_Field(f.name, int, bound or INT_DIGITS))
        elif isinstance(hint, type) and issubclass(hint, enum.StrEnum):
            values = [str(v.value) for v in hint]
            if any(SEP in v or not v for v in values):
                raise ActionError(f"{cls.__name__}.{f.name}: enum values must not contain {SEP!r}")
            out.append(_Field(f.name, hint, max(len(v.encode("utf-8")) for v in values)))
        elif hint is str:
            if bound is None:
                raise ActionError(
                    f"{cls.__name__}.{f.name}: a str field needs a bound "
                    "(Annotated[str, MaxBytes(n)]); an unbounded value goes in as a short handle"
                )
            out.append(_Field(f.name, str, bound))
        else:
            raise ActionError(f"{cls.__name__}.{f.name}: only int, str and StrEnum fields")
    return tuple(out)


def action(prefix: str, limit: int = WIRE_LIMIT) -> Callable[[type[A]], type[A]]:
    """Declare a frozen dataclass as a button action under ``prefix``; refuses a type whose
    longest encoding exceeds ``limit`` bytes."""

    def declare(cls: type[A]) -> type[A]:
        if not _PREFIX.fullmatch(prefix):
            raise ActionError(f"action prefix {prefix!r}: lowercase letters, digits and '-'")
        params = getattr(cls, "__dataclass_params__", None)
        if params is None or not params.frozen:
            raise ActionError(f"{cls.__name__}: an action is a frozen dataclass")
        fields = _fields_of(cls)
        worst = len(prefix) + sum(len(SEP) + f.bound for f in fields)
        if worst > limit:
            raise ActionError(
                f"{cls.__name__} ({prefix!r}) may encode to {worst} bytes, over the "
                f"platforms' limit of {limit}: bound its fields tighter or use a short handle"
            )
        cls._action_prefix = prefix  # type: ignore[attr-defined]
        cls._action_fields = fields  # type: ignore[attr-defined]
        cls._action_worst = worst  # type: ignore[attr-defined]
        return cls

    return declare


def prefix_of(cls: type[Any]) -> str:
    prefix = getattr(cls, "_action_prefix", None)
    if prefix is None:
        raise ActionError(f"{cls.__name__} is not declared with @action")
    return str(prefix)


def worst_case(cls: type[Any]) -> int:
    """The longest string (in bytes) an action of this type can encode to."""
    prefix_of(cls)
    return int(cls._action_worst)


def encode(value: object) -> str:
    """The button string of an action; raises ``ActionError`` for a value over its bound."""
    cls = type(value)
    parts = [prefix_of(cls)]
    parts += [f.dump(getattr(value, f.name)) for f in cls._action_fields]  # type: ignore[attr-defined]
    return SEP.join(parts)


class ActionCodec:
    """Prefix → action type for the button strings coming back from the platforms."""

    def __init__(self, types: Iterable[type[Any]] = ()) -> None:
        self._types: dict[str, type[Any]] = {}
        for cls in types:
            self.register(cls)

    def register(self, cls: type[Any]) -> None:
        prefix = prefix_of(cls)
        known = self._types.get(prefix)
        if known is not None:
            raise ActionError(
                f"action prefix {prefix!r} of {cls.__name__} is already {known.__name__}'s"
            )
        self._types[prefix] = cls

    def decode(self, data: str) -> object | None:
        """The action a button carried, or None when it is no registered action's (another
        bot's button, an old format, a forged or damaged string)."""
        prefix, _, rest = data.partition(SEP)
        cls = self._types.get(prefix)
        if cls is None:
            return None
        fields: tuple[_Field, ...] = cls._action_fields
        texts = rest.split(SEP) if fields else ([] if not rest else [""])
        if len(texts) != len(fields) or len(data.encode("utf-8")) > cls._action_worst:
            return None
        values = {}
        for f, text in zip(fields, texts, strict=True):
            value = f.load(text)
            if value is None:
                return None
            values[f.name] = value
        decoded: object = cls(**values)
        return decoded
