"""The small languages of the filter flags of ``sightlog events query`` / ``count`` (SPEC §3.6).

Each parser turns one flag value into the JSON filter object the API takes, or raises ``ValueError`` with a
sentence saying what is wrong. The grammars are documented in the flags' help and in docs/cli.md.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Scalar = str | bool | int | float
ValueType = Literal["string", "number", "boolean"]

SOURCE_OPERATORS = ("eq", "neq", "in", "nin", "contains")
_SOURCE = re.compile(rf"({'|'.join(SOURCE_OPERATORS)}):(.*)", re.DOTALL)

# A field name is anything without an operator character; the longer operators are tried first.
_NAME = r"[^=!<>~?:]+"
_NOT_EXISTS = re.compile(rf"!({_NAME})")
_EXISTS = re.compile(rf"({_NAME})\?")
_COMPARISON = re.compile(rf"({_NAME}?)(==|!=|>=|<=|=|>|<|~|:in=|:nin=)(.*)", re.DOTALL)
_OPERATORS = {
    "==": "eq",
    "=": "eq",
    "!=": "neq",
    ">": "gt",
    ">=": "gte",
    "<": "lt",
    "<=": "lte",
    "~": "contains",
    ":in=": "in",
    ":nin=": "nin",
}
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")

_CLASS = re.compile(
    r"(?P<none>!)?(?P<name>[^:<>=!]+?)"
    r"(?::(?P<min>[^:<>=]*)(?::(?P<max>[^:<>=]*))?)?"
    r"(?:(?P<op>>=|<=|>|<|=)(?P<count>\d+)(?:\.\.(?P<upto>\d+))?)?"
)

_AGO = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def source_filter(text: str) -> dict[str, Any]:
    """``cam-1`` (equal), or ``OP:VALUE`` with OP one of eq, neq, in, nin, contains (``in:cam-1,cam-2``).
    A value that itself starts with such a prefix is written ``eq:in:x``."""
    match = _SOURCE.fullmatch(text)
    operator, value = match.groups() if match else ("eq", text)
    if operator in ("in", "nin"):
        values = _items(value)
        return {"operator": operator, "value": values}
    return {"operator": operator, "value": value}


def value_filter(text: str) -> dict[str, Any]:
    """One ``customMetadataFilters`` / ``eventFieldFilters`` entry from an expression such as
    ``line_id==7``, ``shift!=b``, ``temperature>85``, ``operator~ann``, ``part:in=a,b``, ``inspected?``
    or ``!inspected``."""
    if match := _NOT_EXISTS.fullmatch(text):
        return {"field": _field(match.group(1)), "operator": "not_exists"}
    if match := _EXISTS.fullmatch(text):
        return {"field": _field(match.group(1)), "operator": "exists"}
    match = _COMPARISON.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a filter expression; write e.g. line_id==7, shift!=b, temperature>=85, "
            "operator~ann, part:in=a,b, inspected? or !inspected"
        )
    name, symbol, raw = match.groups()
    raw = raw.strip()
    operator = _OPERATORS[symbol]
    if operator == "contains":
        return {"field": _field(name), "operator": operator, "value": _unquoted(raw), "type": "string"}
    if operator in ("in", "nin"):
        typed = [typed_value(item) for item in _items(raw)]
        types = {kind for _, kind in typed}
        if len(types) > 1:
            kinds = " and ".join(f"{kind}s" for kind in sorted(types))
            raise ValueError(
                f"the values of {text!r} mix {kinds}; quote numbers or true/false to compare them as strings"
            )
        return {
            "field": _field(name),
            "operator": operator,
            "value": [v for v, _ in typed],
            "type": types.pop(),
        }
    value, kind = typed_value(raw)
    if kind == "boolean" and operator in ("gt", "gte", "lt", "lte"):
        raise ValueError(f"{text!r} compares a boolean with {symbol}; only ==, != and :in= apply to booleans")
    return {"field": _field(name), "operator": operator, "value": value, "type": kind}


def typed_value(text: str) -> tuple[Scalar, ValueType]:
    """``true``/``false`` are booleans, numerals numbers, anything else a string; quotes (``"7"``, ``'true'``)
    force a string."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1], "string"
    if text in ("true", "false"):
        return text == "true", "boolean"
    if _NUMBER.fullmatch(text):
        return (int(text) if _INTEGER.fullmatch(text) else float(text)), "number"
    return text, "string"


def detection_filter(text: str) -> dict[str, Any]:
    """``CLASS[:MIN_CONF[:MAX_CONF]][COUNT]`` where COUNT is ``>=N``, ``>N``, ``<=N``, ``<N``, ``=N`` or
    ``=N..M``; ``!CLASS`` means "no such prediction"."""
    match = _CLASS.fullmatch(text)
    if match is None or not match["name"].strip():
        raise ValueError(
            f"{text!r} is not a class filter; write e.g. crack, crack:0.9, crack:0.5:0.8, 'crack>=3', "
            "'crack:0.9=0', 'person=2..4' or '!crack'"
        )
    entry: dict[str, Any] = {"class": match["name"].strip()}
    for key, group in (("minConfidence", "min"), ("maxConfidence", "max")):
        if match[group]:
            entry[key] = _confidence(match[group], text)
    if match["none"]:
        if match["op"]:
            raise ValueError(f"{text!r}: '!' already means a count of 0; leave out the count")
        return entry | {"minCount": 0, "maxCount": 0}
    if match["op"]:
        entry |= _count(match["op"], int(match["count"]), match["upto"], text)
    return entry


def instant(text: str, *, now: datetime | None = None) -> datetime:
    """ISO 8601 (a value without offset is UTC), or a time ago: ``30m``, ``24h``, ``7d``, ``2w``."""
    if match := _AGO.fullmatch(text):
        amount, unit = match.groups()
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO 8601 time (2026-11-20T10:00:00Z) nor a time ago (30m, 24h, 7d, 2w)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _items(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise ValueError(f"{text!r} is not a comma-separated list of values")
    return items


def _field(name: str) -> str:
    field = name.strip()
    if not field:
        raise ValueError("a filter expression needs a field name before its operator")
    return field


def _unquoted(text: str) -> str:
    return str(typed_value(text)[0]) if text[:1] in "\"'" else text


def _confidence(text: str, expression: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{expression!r}: confidence {text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise ValueError(f"{expression!r}: confidence {text} is not between 0 and 1")
    return value


def _count(operator: str, count: int, upto: str | None, expression: str) -> dict[str, int]:
    if upto is not None and operator != "=":
        raise ValueError(f"{expression!r}: a range N..M goes with '=' (e.g. person=2..4)")
    if operator == "=":
        return {"minCount": count, "maxCount": int(upto) if upto is not None else count}
    if operator == "<" and count == 0:
        raise ValueError(f"{expression!r}: no count is below 0")
    # "At most N" includes none at all, while the API's minimum count defaults to 1.
    return {
        ">=": {"minCount": count},
        ">": {"minCount": count + 1},
        "<=": {"minCount": 0, "maxCount": count},
        "<": {"minCount": 0, "maxCount": count - 1},
    }[operator]
