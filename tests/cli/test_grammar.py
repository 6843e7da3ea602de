"""The flag languages of ``events query`` / ``count``: every operator, typing and error, without a server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sightlog.cli import grammar


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("line_id==7", {"field": "line_id", "operator": "eq", "value": 7, "type": "number"}),
        ("line_id=7", {"field": "line_id", "operator": "eq", "value": 7, "type": "number"}),
        ('line_id=="7"', {"field": "line_id", "operator": "eq", "value": "7", "type": "string"}),
        ("shift!=b", {"field": "shift", "operator": "neq", "value": "b", "type": "string"}),
        ("temperature>85", {"field": "temperature", "operator": "gt", "value": 85, "type": "number"}),
        ("temperature>=85.5", {"field": "temperature", "operator": "gte", "value": 85.5, "type": "number"}),
        ("temperature<-1e3", {"field": "temperature", "operator": "lt", "value": -1000.0, "type": "number"}),
        ("temperature<=.5", {"field": "temperature", "operator": "lte", "value": 0.5, "type": "number"}),
        ("operator~ann", {"field": "operator", "operator": "contains", "value": "ann", "type": "string"}),
        ("code~007", {"field": "code", "operator": "contains", "value": "007", "type": "string"}),
        ("part:in=a, b", {"field": "part", "operator": "in", "value": ["a", "b"], "type": "string"}),
        ("part:nin=1,2.5", {"field": "part", "operator": "nin", "value": [1, 2.5], "type": "number"}),
        ("part:in='1',b", {"field": "part", "operator": "in", "value": ["1", "b"], "type": "string"}),
        ("ok==true", {"field": "ok", "operator": "eq", "value": True, "type": "boolean"}),
        ("ok!='false'", {"field": "ok", "operator": "neq", "value": "false", "type": "string"}),
        ("inspected?", {"field": "inspected", "operator": "exists"}),
        ("!inspected", {"field": "inspected", "operator": "not_exists"}),
        ("line name == north", {"field": "line name", "operator": "eq", "value": "north", "type": "string"}),
        ("note=", {"field": "note", "operator": "eq", "value": "", "type": "string"}),
    ],
)
def test_value_expressions(text: str, expected: dict[str, object]) -> None:
    assert grammar.value_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("line_id", "not a filter expression"),
        ("==7", "not a filter expression"),
        (" ==7", "needs a field name"),
        ("a:in=1,b", "mix numbers and strings"),
        ("a:in=1,,2", "comma-separated"),
        ("ok>true", "boolean"),
        ("a:like=x", "not a filter expression"),
    ],
)
def test_bad_value_expressions(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        grammar.value_filter(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cam-1", {"operator": "eq", "value": "cam-1"}),
        ("eq:in:x", {"operator": "eq", "value": "in:x"}),
        ("neq:cam-1", {"operator": "neq", "value": "cam-1"}),
        ("in:cam-1, cam-2", {"operator": "in", "value": ["cam-1", "cam-2"]}),
        ("nin:cam-1", {"operator": "nin", "value": ["cam-1"]}),
        ("contains:north", {"operator": "contains", "value": "north"}),
        ("rtsp://cam/1", {"operator": "eq", "value": "rtsp://cam/1"}),
    ],
)
def test_source_filters(text: str, expected: dict[str, object]) -> None:
    assert grammar.source_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("crack", {"class": "crack"}),
        ("crack:0.9", {"class": "crack", "minConfidence": 0.9}),
        ("crack:0.5:0.8", {"class": "crack", "minConfidence": 0.5, "maxConfidence": 0.8}),
        ("crack::0.3", {"class": "crack", "maxConfidence": 0.3}),
        ("crack>=3", {"class": "crack", "minCount": 3}),
        ("crack>3", {"class": "crack", "minCount": 4}),
        ("crack<=2", {"class": "crack", "minCount": 0, "maxCount": 2}),
        ("crack<2", {"class": "crack", "minCount": 0, "maxCount": 1}),
        ("crack=2", {"class": "crack", "minCount": 2, "maxCount": 2}),
        ("person:0.8=2..4", {"class": "person", "minConfidence": 0.8, "minCount": 2, "maxCount": 4}),
        ("!crack", {"class": "crack", "minCount": 0, "maxCount": 0}),
        ("!crack:0.9", {"class": "crack", "minConfidence": 0.9, "minCount": 0, "maxCount": 0}),
        ("hard hat", {"class": "hard hat"}),
    ],
)
def test_class_filters(text: str, expected: dict[str, object]) -> None:
    assert grammar.detection_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("crack:high", "not a number"),
        ("crack:1.5", "between 0 and 1"),
        ("crack>=2..3", "range"),
        ("!crack>=1", "count of 0"),
        ("crack<0", "below 0"),
        (":0.5", "not a class filter"),
    ],
)
def test_bad_class_filters(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        grammar.detection_filter(text)


def test_times() -> None:
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    assert grammar.instant("30m", now=now) == datetime(2026, 1, 10, 11, 30, tzinfo=UTC)
    assert grammar.instant("24h", now=now) == datetime(2026, 1, 9, 12, 0, tzinfo=UTC)
    assert grammar.instant("2w", now=now) == datetime(2025, 12, 27, 12, 0, tzinfo=UTC)
    assert grammar.instant("2026-01-01") == datetime(2026, 1, 1, tzinfo=UTC)
    assert grammar.instant("2026-01-01T10:00:00+02:00") == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="ISO 8601"):
        grammar.instant("yesterday")
