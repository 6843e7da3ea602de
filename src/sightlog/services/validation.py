"""Turning request bodies into validated, flattened events, collecting every problem with its ``loc``.

Structure (types, lengths, prediction shapes) is checked by the pydantic models in
:mod:`sightlog.models.events`; the rules that depend on ``eventType`` and time live here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from sightlog.errors import ErrorDetail
from sightlog.models.events import EventIn, Metadata
from sightlog.models.predictions import PREDICTION_KINDS
from sightlog.services.timeutil import format_instant, parse_instant

MAX_FUTURE_US = 86_400 * 1_000_000
EVENT_FIELDS = frozenset(EventIn.model_fields)
IMAGE_READ_FIELDS = frozenset({"url", "inputUrl", "thumbnailUrl", "width", "height"})
_ALERT_TYPE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
# Member tags pydantic adds to the loc of a failed union branch; one message per field is enough.
_UNION_TAGS = {"constrained-str", "str", "bool", "int", "float", "list[...]", "tuple[...]"}


@dataclass(frozen=True, slots=True)
class FieldRule:
    kind: str  # "string" | "number" | "integer"
    max_length: int = 1000
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class TypeRules:
    fields: dict[str, FieldRule]
    required: tuple[str, ...] = ()
    open_ended: bool = False  # custom: any other flat scalar key is part of the type


_METADATA: TypeAdapter[dict[str, Any]] = TypeAdapter(Metadata)
_TEXT = FieldRule("string")
_LONG_TEXT = FieldRule("string", max_length=10_000)
EVENT_DATA_RULES: dict[str, TypeRules] = {
    "quality_check": TypeRules(
        {
            "result": FieldRule("string", choices=("pass", "fail")),
            "confidence": FieldRule("number", minimum=0, maximum=1),
            "externalId": _TEXT,
        },
        required=("result",),
    ),
    "inventory_count": TypeRules(
        {
            "itemCount": FieldRule("integer", minimum=0),
            "location": _TEXT,
            "itemType": _TEXT,
            "externalId": _TEXT,
        },
        required=("itemCount",),
    ),
    "safety_alert": TypeRules(
        {
            "alertType": FieldRule("string", max_length=100, pattern=_ALERT_TYPE),
            "severity": FieldRule("string", choices=("low", "medium", "high")),
            "description": _LONG_TEXT,
            "externalId": _TEXT,
        },
        required=("alertType",),
    ),
    "custom": TypeRules({"value": _LONG_TEXT, "externalId": _TEXT}, open_ended=True),
    "operator_feedback": TypeRules(
        {
            "relatedEventId": FieldRule("string", max_length=256),
            "feedback": FieldRule("string", choices=("correct", "incorrect", "inconclusive")),
            "comment": _LONG_TEXT,
        },
        required=("relatedEventId", "feedback"),
    ),
}


@dataclass(slots=True)
class ValidEvent:
    """An event that passed validation: the body to store plus what the store indexes."""

    event_id: str
    use_case_id: str
    event_type: str
    ts: int
    body: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _loc(prefix: str, parts: Iterable[str | int]) -> str:
    out = prefix
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in _UNION_TAGS:
            out += f".{part}" if out else str(part)
    return out


def pydantic_details(exc: ValidationError, prefix: str = "") -> list[ErrorDetail]:
    details: dict[str, ErrorDetail] = {}
    for err in exc.errors(include_url=False, include_input=False):
        loc = _loc(prefix, err["loc"])
        if err["loc"][-1:] == ("[key]",):  # pydantic marks a bad dict key this way
            details.setdefault(
                loc, ErrorDetail(loc, "is not a valid key: use 1-100 of A-Z a-z 0-9 _ - and space")
            )
            continue
        if loc in details:  # several union branches failed: say what is accepted instead
            if "customMetadata" in loc:
                details[loc] = ErrorDetail(
                    loc, "must be a string (at most 1000 characters), a number or a boolean"
                )
            continue
        message = err["msg"]
        if err["type"] == "missing":
            message = "Field required"
        details[loc] = ErrorDetail(loc, message)
    return list(details.values())


def _check_scalar(rule: FieldRule, value: Any) -> str | None:
    if rule.kind == "string":
        if not isinstance(value, str):
            return "must be a string"
        if len(value) > rule.max_length:
            return f"must be at most {rule.max_length} characters"
        if rule.choices and value not in rule.choices:
            return "must be one of " + ", ".join(f"'{c}'" for c in rule.choices)
        if rule.pattern and not rule.pattern.match(value):
            return f"must match {rule.pattern.pattern}"
        return None
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or (rule.kind == "integer" and not isinstance(value, int)):
        return "must be an integer" if rule.kind == "integer" else "must be a number"
    if rule.minimum is not None and value < rule.minimum:
        return f"must be at least {rule.minimum:g}"
    if rule.maximum is not None and value > rule.maximum:
        return f"must be at most {rule.maximum:g}"
    return None


def _check_event_data(
    event_type: str, data: dict[str, Any], loc: str, errors: list[ErrorDetail], warnings: list[str]
) -> None:
    rules = EVENT_DATA_RULES[event_type]
    for name in rules.required:
        if name not in data:
            errors.append(ErrorDetail(f"{loc}.{name}", f"is required for {event_type} events"))
    for name, value in data.items():
        rule = rules.fields.get(name)
        if rule is not None:
            if (problem := _check_scalar(rule, value)) is not None:
                errors.append(ErrorDetail(f"{loc}.{name}", problem))
        elif rules.open_ended:
            if not (value is None or isinstance(value, str | int | float | bool)):
                errors.append(ErrorDetail(f"{loc}.{name}", "custom eventData values must be scalars"))
            elif isinstance(value, str) and len(value) > 10_000:
                errors.append(ErrorDetail(f"{loc}.{name}", "must be at most 10000 characters"))
        else:
            warnings.append(f"eventData.{name} is not a field of {event_type} events; it was kept")


def _check_semantics(
    raw: dict[str, Any], at: str, now: int, errors: list[ErrorDetail], warnings: list[str]
) -> int:
    """Rules beyond structure, run on the raw values so a 400 lists them next to structural problems.

    Returns the timestamp in microseconds (0 when it is unusable).
    """
    ts = 0
    if isinstance(stamp := raw.get("timestamp"), str):
        try:
            ts, had_offset = parse_instant(stamp)
        except ValueError as exc:
            errors.append(ErrorDetail(f"{at}timestamp", str(exc)))
        else:
            if not had_offset:
                warnings.append("timestamp has no UTC offset; it was read as UTC")
            if ts > now + MAX_FUTURE_US:
                errors.append(ErrorDetail(f"{at}timestamp", "is more than 1 day in the future"))
    data = raw.get("eventData")
    if raw.get("eventType") in EVENT_DATA_RULES and (data is None or isinstance(data, dict)):
        _check_event_data(raw["eventType"], data or {}, f"{at}eventData", errors, warnings)
    position, images = raw.get("displayImagePosition"), raw.get("images")
    image_count = len(images) if isinstance(images, list) else 0
    if isinstance(position, int) and not isinstance(position, bool) and position >= max(image_count, 1):
        errors.append(ErrorDetail(f"{at}displayImagePosition", "must be an index into images"))
    return ts


def validate_event(raw: Any, loc: str, now: int) -> ValidEvent | list[ErrorDetail]:
    """Validate one event body; ``loc`` prefixes every error (``""`` or ``events[3]``)."""
    if not isinstance(raw, dict):
        return [ErrorDetail(loc or "body", "each event must be a JSON object")]
    errors: list[ErrorDetail] = []
    warnings: list[str] = []
    try:
        model = EventIn.model_validate(raw)
    except ValidationError as exc:
        errors.extend(pydantic_details(exc, loc))
    at = f"{loc}." if loc else ""
    ts = _check_semantics(raw, at, now, errors, warnings)
    if errors:
        return errors
    warnings.extend(f"{name} is not an event field; it was ignored" for name in model.model_extra or {})

    body = {k: v for k, v in raw.items() if k in EVENT_FIELDS}
    body["timestamp"] = format_instant(ts)
    if body.get("images"):
        # Server-computed image fields are added on read, never stored from a client.
        body["images"] = [
            {k: v for k, v in img.items() if k not in IMAGE_READ_FIELDS} for img in body["images"]
        ]
    return ValidEvent(
        event_id=model.eventId,
        use_case_id=model.useCaseId,
        event_type=model.eventType,
        ts=ts,
        body=body,
        warnings=warnings,
    )


def predictions_of(body: dict[str, Any]) -> Iterable[tuple[str, float]]:
    """Every (class, confidence) of every prediction kind in every image of an event body."""
    for image in body.get("images") or ():
        for kind in PREDICTION_KINDS:
            for prediction in image.get(kind) or ():
                yield prediction["class"], float(prediction["confidence"])


def check_metadata(value: Any) -> list[str]:
    """The customMetadata rules of SPEC §3.2, for values that do not come through :class:`EventIn`."""
    try:
        _METADATA.validate_python(value)
    except ValidationError as exc:
        return [f"{d.loc} {d.message}" for d in pydantic_details(exc, "metadata")]
    return []
