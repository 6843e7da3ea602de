"""POST /vision-events/query: every filter of SPEC §3.6 with every operator, over one seeded use case.

Events (UTC instants)::

    a  quality_check    2026-11-20T10:00:00Z      Cam-North-1 s1 wf-a  pass 0.9 EXT-001  defect .95 scratch .5
    b  quality_check    2026-11-20T08:05:00Z (*)  cam-south-2 s2 -      fail 0.4 ext-002  defect .6 seg+kp
    c  inventory_count  2026-11-21T00:00:00Z      -           -  -      itemCount 12
    d  safety_alert     2026-11-19T23:59:59.5Z    Cam-North-3 -  wf_b   no_helmet high    person .9 .8 .2
    e  custom           2026-11-20T10:00:00Z      -           -  -      value x, score 5

(*) sent as 10:05:00+02:00.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import batch, query_ids
from tests.conftest import make_event


def det(cls: str, confidence: float, **extra: Any) -> dict[str, Any]:
    return {"class": cls, "x": 5, "y": 5, "width": 2, "height": 2, "confidence": confidence, **extra}


SEED = [
    make_event(
        "a",
        "",
        deviceId="Cam-North-1",
        streamId="s1",
        workflowId="wf-a",
        eventData={"result": "pass", "confidence": 0.9, "externalId": "EXT-001"},
        customMetadata={"line": "L1", "shift": 1, "rush": True, "code": "7"},
        images=[{"objectDetections": [det("defect", 0.95)], "classifications": [det("scratch", 0.5)]}],
    ),
    make_event(
        "b",
        "",
        timestamp="2026-11-20T10:05:00+02:00",
        deviceId="cam-south-2",
        streamId="s2",
        eventData={"result": "fail", "confidence": 0.4, "externalId": "ext-002"},
        customMetadata={"line": "L2", "shift": 2, "rush": False, "code": 7},
        images=[
            {"instanceSegmentations": [det("defect", 0.6, points=[[0, 0], [1, 0], [1, 1]])]},
            {"keypoints": [det("defect", 0.6, keypoints=[])]},
        ],
    ),
    make_event(
        "c",
        "",
        eventType="inventory_count",
        timestamp="2026-11-21T00:00:00Z",
        eventData={"itemCount": 12, "location": "Dock 3"},
        customMetadata={"line": "l1", "shift": 3},
    ),
    make_event(
        "d",
        "",
        eventType="safety_alert",
        timestamp="2026-11-19T23:59:59.500Z",
        deviceId="Cam-North-3",
        workflowId="wf_b",
        eventData={"alertType": "no_helmet", "severity": "high"},
        customMetadata={"note": "Needs Review"},
        images=[{"keypoints": [det("person", c, keypoints=[]) for c in (0.9, 0.8, 0.2)]}],
    ),
    make_event("e", "", eventType="custom", eventData={"value": "x", "score": 5}),
]


@pytest.fixture(scope="module")
def seeded(module_api):
    uc = module_api.use_case("Seeded")
    batch(module_api, [{**event, "useCaseId": uc} for event in SEED])
    return module_api, uc


def src(operator: str, value: Any) -> dict[str, Any]:
    return {"operator": operator, "value": value}


def vf(field: str, operator: str, value: Any = None, type_: str | None = None) -> dict[str, Any]:
    flt: dict[str, Any] = {"field": field, "operator": operator}
    if value is not None:
        flt["value"] = value
    if type_ is not None:
        flt["type"] = type_
    return flt


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("no-filter", {}, "abcde"),
    ("eventType", {"eventType": "quality_check"}, "ab"),
    ("eventTypes", {"eventTypes": ["inventory_count", "safety_alert"]}, "cd"),
    ("both-types", {"eventType": "quality_check", "eventTypes": ["quality_check", "custom"]}, "ab"),
    ("both-types-disjoint", {"eventType": "quality_check", "eventTypes": ["custom"]}, ""),
    ("start-inclusive", {"startTime": "2026-11-20T10:00:00Z"}, "ace"),
    ("end-exclusive", {"endTime": "2026-11-20T10:00:00Z"}, "bd"),
    ("start-offset", {"startTime": "2026-11-20T12:00:00+02:00"}, "ace"),
    ("end-offset", {"endTime": "2026-11-20T10:05:00+02:00"}, "d"),
    ("start-fraction", {"startTime": "2026-11-19T23:59:59.5Z", "endTime": "2026-11-20T08:05:00Z"}, "d"),
    ("window", {"startTime": "2026-11-20T08:05:00Z", "endTime": "2026-11-21T00:00:00Z"}, "abe"),
    ("device-eq", {"deviceId": src("eq", "Cam-North-1")}, "a"),
    ("device-neq", {"deviceId": src("neq", "Cam-North-1")}, "bd"),
    ("device-in", {"deviceId": src("in", ["Cam-North-1", "cam-south-2", "zzz"])}, "ab"),
    ("device-nin", {"deviceId": src("nin", ["Cam-North-1"])}, "bd"),
    ("device-contains-ci", {"deviceId": src("contains", "NORTH")}, "ad"),
    ("stream-eq", {"streamId": src("eq", "s1")}, "a"),
    ("stream-neq", {"streamId": src("neq", "s1")}, "b"),
    ("stream-in", {"streamId": src("in", ["s2"])}, "b"),
    ("stream-nin", {"streamId": src("nin", ["s2", "s3"])}, "a"),
    ("stream-contains", {"streamId": src("contains", "S")}, "ab"),
    ("workflow-eq", {"workflowId": src("eq", "wf_b")}, "d"),
    ("workflow-neq", {"workflowId": src("neq", "wf_b")}, "a"),
    ("workflow-in", {"workflowId": src("in", ["wf-a", "wf_b"])}, "ad"),
    ("workflow-nin", {"workflowId": src("nin", ["wf-a"])}, "d"),
    ("workflow-contains-underscore-literal", {"workflowId": src("contains", "_")}, "d"),
    ("workflow-contains-percent-literal", {"workflowId": src("contains", "%")}, ""),
    ("external-eq", {"externalId": src("eq", "EXT-001")}, "a"),
    ("external-neq", {"externalId": src("neq", "EXT-001")}, "b"),
    ("external-in", {"externalId": src("in", ["ext-002"])}, "b"),
    ("external-nin", {"externalId": src("nin", ["ext-002"])}, "a"),
    ("external-contains", {"externalId": src("contains", "eXt-00")}, "ab"),
    ("sources-and", {"deviceId": src("contains", "cam"), "streamId": src("eq", "s2")}, "b"),
]

META = "customMetadataFilters"
FIELD = "eventFieldFilters"
CASES += [
    ("meta-eq", {META: [vf("line", "eq", "L1", "string")]}, "a"),
    ("meta-neq", {META: [vf("line", "neq", "L1", "string")]}, "bc"),
    ("meta-in", {META: [vf("line", "in", ["L1", "L2"], "string")]}, "ab"),
    ("meta-nin", {META: [vf("line", "nin", ["L1"], "string")]}, "bc"),
    ("meta-contains-ci", {META: [vf("line", "contains", "l", "string")]}, "abc"),
    ("meta-contains-words", {META: [vf("note", "contains", "REVIEW", "string")]}, "d"),
    ("meta-gt", {META: [vf("shift", "gt", 1, "number")]}, "bc"),
    ("meta-gte", {META: [vf("shift", "gte", 2, "number")]}, "bc"),
    ("meta-lt", {META: [vf("shift", "lt", 2, "number")]}, "a"),
    ("meta-lte", {META: [vf("shift", "lte", 2.0, "number")]}, "ab"),
    ("meta-eq-number", {META: [vf("shift", "eq", 2, "number")]}, "b"),
    ("meta-neq-number", {META: [vf("shift", "neq", 2, "number")]}, "ac"),
    ("meta-in-number", {META: [vf("shift", "in", [1, 3], "number")]}, "ac"),
    ("meta-nin-number", {META: [vf("shift", "nin", [1], "number")]}, "bc"),
    ("meta-gt-string", {META: [vf("note", "gt", "Na", "string")]}, "d"),
    ("meta-lt-string", {META: [vf("note", "lt", "Na", "string")]}, ""),
    ("number-stored-as-string", {META: [vf("code", "eq", 7, "number")]}, "b"),
    ("string-filter-on-number", {META: [vf("code", "eq", "7", "string")]}, "a"),
    ("number-gte-skips-strings", {META: [vf("code", "gte", 0, "number")]}, "b"),
    ("bool-eq-true", {META: [vf("rush", "eq", True, "boolean")]}, "a"),
    ("bool-eq-false", {META: [vf("rush", "eq", False, "boolean")]}, "b"),
    ("bool-neq", {META: [vf("rush", "neq", True, "boolean")]}, "b"),
    ("bool-in", {META: [vf("rush", "in", [True, False], "boolean")]}, "ab"),
    ("bool-nin", {META: [vf("rush", "nin", [True], "boolean")]}, "b"),
    ("boolean-is-not-a-number", {META: [vf("rush", "eq", 1, "number")]}, ""),
    ("boolean-not-in-number-range", {META: [vf("rush", "gte", 0, "number")]}, ""),
    ("number-is-not-a-boolean", {META: [vf("shift", "eq", True, "boolean")]}, ""),
    ("meta-exists", {META: [vf("line", "exists")]}, "abc"),
    ("meta-exists-any-type", {META: [vf("code", "exists")]}, "ab"),
    ("meta-not-exists", {META: [vf("line", "not_exists")]}, "de"),
    ("meta-and", {META: [vf("line", "in", ["L1", "L2"], "string"), vf("shift", "gte", 2, "number")]}, "b"),
    ("field-eq", {FIELD: [vf("result", "eq", "pass", "string")]}, "a"),
    ("field-neq", {FIELD: [vf("result", "neq", "pass", "string")]}, "b"),
    ("field-gt", {FIELD: [vf("confidence", "gt", 0.5, "number")]}, "a"),
    ("field-lte", {FIELD: [vf("confidence", "lte", 0.4, "number")]}, "b"),
    ("field-lt", {FIELD: [vf("itemCount", "lt", 13, "number")]}, "c"),
    ("field-gte", {FIELD: [vf("itemCount", "gte", 12, "number")]}, "c"),
    ("field-number-as-string", {FIELD: [vf("itemCount", "eq", "12", "string")]}, ""),
    ("field-in", {FIELD: [vf("severity", "in", ["high", "low"], "string")]}, "d"),
    ("field-nin", {FIELD: [vf("result", "nin", ["fail"], "string")]}, "a"),
    ("field-contains", {FIELD: [vf("alertType", "contains", "HELMET", "string")]}, "d"),
    ("field-exists", {FIELD: [vf("externalId", "exists")]}, "ab"),
    ("field-not-exists", {FIELD: [vf("externalId", "not_exists")]}, "cde"),
    ("field-custom-key", {FIELD: [vf("score", "eq", 5, "number")]}, "e"),
    ("field-custom-value", {FIELD: [vf("value", "eq", "x", "string")]}, "e"),
    ("field-and-meta", {FIELD: [vf("result", "exists")], META: [vf("shift", "lt", 2, "number")]}, "a"),
]

DET = "detectionFilters"
CASES += [
    ("det-class", {DET: [{"class": "defect"}]}, "ab"),
    ("det-min-confidence", {DET: [{"class": "defect", "minConfidence": 0.9}]}, "a"),
    ("det-max-confidence", {DET: [{"class": "person", "maxConfidence": 0.5}]}, "d"),
    ("det-count-across-images-and-kinds", {DET: [{"class": "defect", "minCount": 2}]}, "b"),
    ("det-max-count-zero", {DET: [{"class": "defect", "maxCount": 0}]}, "cde"),
    ("det-max-count", {DET: [{"class": "defect", "minCount": 1, "maxCount": 1}]}, "a"),
    ("det-keypoints-count", {DET: [{"class": "person", "minCount": 3}]}, "d"),
    ("det-window-count", {DET: [{"class": "person", "minConfidence": 0.5, "minCount": 2}]}, "d"),
    ("det-window-too-few", {DET: [{"class": "person", "minConfidence": 0.5, "minCount": 3}]}, ""),
    ("det-window-max", {DET: [{"class": "person", "minConfidence": 0.85, "maxCount": 1}]}, "d"),
    ("det-classification", {DET: [{"class": "scratch"}]}, "a"),
    ("det-all-must-hold", {DET: [{"class": "defect"}, {"class": "scratch"}]}, "a"),
    ("det-unknown-class-none", {DET: [{"class": "cat", "maxCount": 0}]}, "abcde"),
    ("det-class-is-exact", {DET: [{"class": "Defect"}]}, ""),
    (
        "everything-and",
        {"eventType": "quality_check", DET: [{"class": "defect"}], "deviceId": src("eq", "x")},
        "",
    ),
]


@pytest.mark.parametrize(("filters", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_filter(seeded, filters, expected):
    api, uc = seeded
    assert sorted(query_ids(api, uc, **filters)) == sorted(expected)


@pytest.mark.parametrize(("sort", "expected"), [(None, "ceabd"), ("desc", "ceabd"), ("asc", "dbaec")])
def test_sort_by_timestamp_then_event_id(seeded, sort, expected):
    api, uc = seeded
    body = {"sort": sort} if sort else {}
    assert query_ids(api, uc, **body) == list(expected)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["correct"], "x"),
        (["incorrect", "none"], "wy"),
        (["inconclusive"], "z"),
        (["none"], "w"),
        (["correct", "incorrect", "inconclusive"], "xyz"),
    ],
)
def test_feedback_filter(api, filters, expected):
    uc = api.use_case()
    reviews = api.use_case("Reviews")
    batch(api, [make_event(i, uc) for i in "wxyz"])
    verdicts = {"x": "correct", "y": "incorrect", "z": "inconclusive"}
    batch(
        api,
        [
            make_event(
                f"fb-{t}",
                reviews,
                eventType="operator_feedback",
                eventData={"relatedEventId": t, "feedback": v},
            )
            for t, v in verdicts.items()
        ],
    )
    assert sorted(query_ids(api, uc, feedback=filters)) == list(expected)


def test_has_warnings_filter(api):
    uc = api.use_case()
    batch(
        api,
        [
            make_event("clean", uc),
            make_event("odd", uc, surprise=1),
            make_event("naive", uc, timestamp="2026-11-20T09:00:00"),
        ],
    )
    assert sorted(query_ids(api, uc, hasWarnings=True)) == ["naive", "odd"]
    assert query_ids(api, uc, hasWarnings=False) == ["clean"]


def test_query_is_scoped_to_its_use_case(seeded):
    api, uc = seeded
    other = api.use_case("Other")
    batch(api, [make_event("z", other)])  # the only write to the shared app: another use case
    assert "z" not in query_ids(api, uc)
    assert query_ids(api, other) == ["z"]
