"""The 270 builder: structure, envelope counts, control numbers, split, round trip."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from typing import Any

import pytest

from cptverify.inquiry import Inquiry
from cptverify.x12.builder270 import (
    Build270Result,
    BuildError,
    EnvelopeConfig,
    PayerCapabilities,
    build_270,
    sequential_control_numbers,
)
from cptverify.x12.reader270 import Request270, read_270
from cptverify.x12.segments import tokenize
from tests.builder.conftest import NOW, load_fixture, make_inquiry

CONFIG = EnvelopeConfig(sender_id="CPTVERIFY", receiver_id="ACME01")


def build(
    inquiry: Inquiry,
    capabilities: PayerCapabilities | None = None,
    config: EnvelopeConfig = CONFIG,
) -> Build270Result:
    traces = iter(f"TRACE{n:04d}" for n in range(1, 1000))
    return build_270(
        inquiry,
        config,
        capabilities,
        control_numbers=sequential_control_numbers(),
        trace_factory=lambda: next(traces),
        now=NOW,
    )


def segments(x12: str) -> list[list[str]]:
    return tokenize(x12).segments


def ids(x12: str) -> list[str]:
    return [seg[0] for seg in segments(x12)]


def find(x12: str, seg_id: str) -> list[list[str]]:
    return [seg for seg in segments(x12) if seg[0] == seg_id]


def transmitted(inquiry: Inquiry) -> dict[str, Any]:
    """The part of an inquiry a 270 carries (claim id, network and amounts stay with us)."""
    patient = inquiry.dependent or inquiry.subscriber
    return {
        "date_of_service": inquiry.date_of_service,
        "payer": {"id": inquiry.payer.id, "name": inquiry.payer.name},
        "provider": {
            "npi": inquiry.provider.npi,
            "organization_name": inquiry.provider.organization_name,
            "first_name": inquiry.provider.first_name,
            "last_name": inquiry.provider.last_name,
        },
        "member_id": inquiry.subscriber.member_id,
        "patient": {
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "birth_date": patient.birth_date,
            "gender": patient.gender if patient.gender in ("M", "F") else None,
        },
        "relationship_code": inquiry.dependent.relationship_code if inquiry.dependent else None,
        "procedures": [(p.qualifier, p.code, list(p.modifiers)) for p in inquiry.procedures],
        "service_types": list(inquiry.service_types),
    }


def read_back(request: Request270) -> dict[str, Any]:
    assert request.payer and request.provider and request.subscriber
    patient = request.patient
    assert patient is not None
    provider = request.provider
    person = provider.entity_type == "1"
    return {
        "date_of_service": request.date_of_service,
        "payer": {"id": request.payer.identifier, "name": request.payer.last_name},
        "provider": {
            "npi": provider.identifier,
            "organization_name": None if person else provider.last_name,
            "first_name": provider.first_name if person else None,
            "last_name": provider.last_name if person else None,
        },
        "member_id": request.subscriber.identifier,
        "patient": {
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "birth_date": patient.birth_date,
            "gender": patient.gender,
        },
        "relationship_code": request.dependent.relationship_code if request.dependent else None,
        "procedures": [(p.qualifier, p.code, p.modifiers) for p in request.procedures],
        "service_types": request.service_types,
    }


def test_subscriber_270_layout() -> None:
    inquiry = make_inquiry(load_fixture("subscriber.json"))

    result = build(inquiry)

    assert result.payer_calls == 1
    x12 = result.interchanges[0].x12
    assert ids(x12) == [
        "ISA", "GS", "ST", "BHT", "HL", "NM1", "HL", "NM1", "HL", "TRN", "NM1", "DMG", "DTP",
        "EQ", "EQ", "SE", "GE", "IEA",
    ]  # fmt: skip
    assert [seg[1:] for seg in find(x12, "HL")] == [
        ["1", "", "20", "1"],
        ["2", "1", "21", "1"],
        ["3", "2", "22", "0"],
    ]
    assert find(x12, "NM1")[0] == ["NM1", "PR", "2", "ACME HEALTH", "", "", "", "", "PI", "ACME01"]
    assert find(x12, "NM1")[1][-2:] == ["XX", "1234567893"]
    assert find(x12, "NM1")[2] == ["NM1", "IL", "1", "DOE", "JANE", "", "", "", "MI", "W123456789"]
    assert find(x12, "TRN") == [["TRN", "1", "TRACE0001", "9CPTVERIFY"]]
    assert find(x12, "DMG") == [["DMG", "D8", "19800115", "F"]]
    assert find(x12, "DTP") == [["DTP", "291", "D8", "20261204"]]
    assert find(x12, "EQ") == [["EQ", "", "HC:99213"], ["EQ", "", "HC:97110:GP"]]
    assert find(x12, "GS")[0][1] == "HS"
    assert find(x12, "ST")[0][3] == find(x12, "GS")[0][8] == "005010X279A1"
    assert result.interchanges[0].trace == "TRACE0001"


def test_dependent_data_goes_in_2000d() -> None:
    inquiry = make_inquiry(load_fixture("dependent.json"))

    x12 = build(inquiry).interchanges[0].x12

    assert ids(x12)[4:-3] == [
        "HL", "NM1", "HL", "NM1", "HL", "NM1", "HL", "TRN", "NM1", "DMG", "INS", "DTP", "EQ", "EQ",
    ]  # fmt: skip
    assert find(x12, "HL")[2][1:] == ["3", "2", "22", "1"]
    assert find(x12, "HL")[3][1:] == ["4", "3", "23", "0"]
    assert find(x12, "NM1")[2] == ["NM1", "IL", "1", "", "", "", "", "", "MI", "BP99887766"]
    assert find(x12, "NM1")[3] == ["NM1", "03", "1", "ROE", "LUCY"]
    provider = ["NM1", "1P", "1", "SMITH", "ANNA", "", "", "", "XX", "1234567893"]
    assert find(x12, "NM1")[1] == provider
    assert find(x12, "INS") == [["INS", "N", "19"]]
    assert find(x12, "EQ") == [["EQ", "", "HC:99393"], ["EQ", "98"]]


def test_no_trailing_empty_elements_or_components() -> None:
    for name in ("subscriber.json", "dependent.json", "five-procedures.json"):
        for built in build(make_inquiry(load_fixture(name))).interchanges:
            body = built.x12.split("~", 1)[1]  # the ISA is fixed width
            assert not re.search(r"[*:^]~", body), name


@pytest.mark.parametrize(
    ("birth_date", "gender", "accepts", "expected"),
    [
        ("1980-01-15", "F", True, [["DMG", "D8", "19800115", "F"]]),
        ("1980-01-15", "F", False, [["DMG", "D8", "19800115"]]),
        ("1980-01-15", "U", True, [["DMG", "D8", "19800115"]]),
        ("1980-01-15", None, True, [["DMG", "D8", "19800115"]]),
        (None, "M", True, []),
    ],
)
def test_dmg_only_when_known(
    birth_date: str | None, gender: str | None, accepts: bool, expected: list[list[str]]
) -> None:
    data = load_fixture("subscriber.json")
    data["subscriber"]["birth_date"] = birth_date
    data["subscriber"]["gender"] = gender

    x12 = build(make_inquiry(data), PayerCapabilities(accepts_gender=accepts)).interchanges[0].x12

    assert find(x12, "DMG") == expected


def test_envelope_counts_and_control_numbers() -> None:
    inquiry = make_inquiry(load_fixture("five-procedures.json"))

    result = build(inquiry, PayerCapabilities(max_procedures_per_inquiry=2))

    seen: list[str] = []
    for built in result.interchanges:
        segs = segments(built.x12)
        st = next(i for i, s in enumerate(segs) if s[0] == "ST")
        se = next(i for i, s in enumerate(segs) if s[0] == "SE")
        assert segs[se][1] == str(se - st + 1) == str(built.segment_count)
        assert segs[se][2] == segs[st][2] == built.transaction_control_number
        ge, iea = segs[-2], segs[-1]
        assert ge[1] == "1" and ge[2] == segs[1][6] == built.group_control_number
        assert iea[1] == "1" and iea[2] == segs[0][13] == built.interchange_control_number
        assert len(segs[0][13]) == 9
        assert len(built.x12.split("~", 1)[0]) + 1 == 106
        seen += [built.interchange_control_number, built.group_control_number]
        seen += [built.transaction_control_number, built.trace]
    assert len(seen) == len(set(seen))


def test_default_control_numbers_and_traces_are_unique() -> None:
    inquiry = make_inquiry(load_fixture("five-procedures.json"))

    results = [
        build_270(inquiry, CONFIG, PayerCapabilities(max_procedures_per_inquiry=1))
        for _ in range(5)
    ]

    interchanges = [b for r in results for b in r.interchanges]
    assert len(interchanges) == 25
    numbers = Counter(b.interchange_control_number for b in interchanges)
    traces = Counter(b.trace for b in interchanges)
    assert max(numbers.values()) == 1 and max(traces.values()) == 1


def test_split_over_the_payer_limit() -> None:
    inquiry = make_inquiry(load_fixture("five-procedures.json"))

    result = build(inquiry, PayerCapabilities(max_procedures_per_inquiry=2))

    assert result.payer_calls == 3
    assert [b.procedure_indexes for b in result.interchanges] == [(0, 1), (2, 3), (4,)]
    assert [[p.code for p in b.procedures] for b in result.interchanges] == [
        ["99214", "97110"],
        ["97140", "70551"],
        ["J1100"],
    ]
    assert result.call_for(3) == 1
    assert len(set(result.traces)) == 3
    for built in result.interchanges:
        (request,) = read_270(built.x12)
        assert request.trace == built.trace
        assert [p.code for p in request.procedures] == [p.code for p in built.procedures]


def test_explicit_service_types_travel_in_the_first_call() -> None:
    data = load_fixture("five-procedures.json")
    data["service_types"] = ["30", "98"]

    result = build(make_inquiry(data), PayerCapabilities(max_procedures_per_inquiry=3))

    assert [b.service_types for b in result.interchanges] == [("30", "98"), ()]
    assert find(result.interchanges[0].x12, "EQ")[-2:] == [["EQ", "30"], ["EQ", "98"]]


def test_payer_without_procedure_codes_gets_crosswalked_service_types() -> None:
    inquiry = make_inquiry(load_fixture("five-procedures.json"))

    x12 = build(inquiry, PayerCapabilities(accepts_procedure_codes=False)).interchanges[0].x12

    assert find(x12, "EQ") == [["EQ", code] for code in ("98", "96", "PT", "AE", "62", "1")]


def test_names_are_normalised_for_the_payer() -> None:
    inquiry = make_inquiry(load_fixture("five-procedures.json"))

    x12 = build(inquiry).interchanges[0].x12

    assert find(x12, "NM1")[2][3:5] == ["GARCIALOPEZ", "MARIA"]
    assert find(x12, "NM1")[1][3] == "BEST CARE CLINIC & REHAB"


@pytest.mark.parametrize("name", ["subscriber.json", "dependent.json", "five-procedures.json"])
def test_round_trip(name: str) -> None:
    data = load_fixture(name)
    inquiry = make_inquiry(data)

    (request,) = read_270(build(inquiry).interchanges[0].x12)

    expected = transmitted(inquiry)
    expected["patient"]["last_name"] = expected["patient"]["last_name"].upper()
    if name == "five-procedures.json":
        expected["patient"]["last_name"] = "GARCIALOPEZ"
    assert read_back(request) == expected
    assert request.trace == "TRACE0001"
    assert request.date_qualifier == "291"
    assert not request.warnings


def test_custom_delimiters_round_trip() -> None:
    config = EnvelopeConfig(
        sender_id="CPTVERIFY",
        receiver_id="ACME01",
        element_separator="|",
        component_separator=">",
        repetition_separator="!",
        segment_terminator="\n",
    )
    inquiry = make_inquiry(load_fixture("five-procedures.json"))

    x12 = build(inquiry, config=config).interchanges[0].x12

    assert "EQ||HC>97110>GP>59\n" in x12
    (request,) = read_270(x12)
    assert read_back(request)["procedures"] == transmitted(inquiry)["procedures"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sender_id": "X" * 16}, "sender_id"),
        ({"receiver_qualifier": "99"}, "receiver_qualifier"),
        ({"component_separator": "*"}, "differ"),
        ({"segment_terminator": "A"}, "delimiter"),
        ({"segment_terminator": "-"}, "delimiter"),
        ({"trace_originator": "123"}, "trace_originator"),
        ({"sender_id": "CPT*VERIFY"}, "sender_id"),
    ],
)
def test_envelope_config_is_checked(change: dict[str, str], message: str) -> None:
    settings: dict[str, Any] = {"sender_id": "CPTVERIFY", "receiver_id": "ACME01", **change}
    inquiry = make_inquiry(load_fixture("subscriber.json"))

    with pytest.raises(BuildError, match=message):
        build(inquiry, config=EnvelopeConfig(**settings))


def test_payer_limit_is_checked() -> None:
    inquiry = make_inquiry(load_fixture("subscriber.json"))

    with pytest.raises(BuildError, match="max_procedures_per_inquiry"):
        build(inquiry, PayerCapabilities(max_procedures_per_inquiry=0))


def test_name_without_x12_characters_is_a_named_error() -> None:
    # Validation refuses such a name by field; the builder still guards an unvalidated copy.
    inquiry = make_inquiry(load_fixture("subscriber.json"))
    subscriber = inquiry.subscriber.model_copy(update={"last_name": "山田"})
    unchecked = inquiry.model_copy(update={"subscriber": subscriber})

    with pytest.raises(BuildError) as caught:
        build(unchecked)

    assert "subscriber.last_name" in str(caught.value)
    assert "山田" not in str(caught.value)


def test_capabilities_from_registry_like_settings() -> None:
    class Entry:
        accepts_procedure_codes = False
        max_procedures_per_inquiry = 5
        accepts_gender = False

    assert PayerCapabilities.from_settings(Entry()) == PayerCapabilities(False, 5, False)
    assert PayerCapabilities.from_settings(object()) == PayerCapabilities()


def tr3_inquiry(dependent: bool) -> Inquiry:
    """The TR3 example requests (CASES.md R01/R02) as an inquiry: generic STC 30 question."""
    data: dict[str, Any] = {
        "claim_id": "TR3",
        "date_of_service": "2006-05-01",
        "payer": {"id": "842610001", "name": "ABC COMPANY"},
        "provider": {"npi": "1234567893", "organization_name": "BONE AND JOINT CLINIC"},
        "subscriber": {
            "member_id": "TEST0000001",
            "first_name": "ROBO",
            "last_name": "TESTSUB",
            "birth_date": "1970-01-01",
        },
        "service_types": ["30"],
    }
    if dependent:
        data["subscriber"]["birth_date"] = None
        data["provider"] = {"npi": "1234567893", "first_name": "GAMMA", "last_name": "TESTDOC"}
        data["dependent"] = {
            "first_name": "BETA",
            "last_name": "TESTDEP",
            "birth_date": "2001-01-01",  # the TR3's masked 2010 follows its 2006 service date
            "relationship_code": "19",
        }
    return make_inquiry(data, today=date(2006, 5, 1))


def transaction(x12: str) -> list[list[str]]:
    segs = segments(x12)
    start = next(i for i, s in enumerate(segs) if s[0] == "ST")
    end = next(i for i, s in enumerate(segs) if s[0] == "SE")
    return segs[start : end + 1]


def test_r01_equivalent_has_the_tr3_shape() -> None:
    from tests.conftest import shared_path

    tr3 = transaction(shared_path("cases", "270-5010-tr3-subscriber-eq30.x12").read_text())

    ours = transaction(build(tr3_inquiry(dependent=False)).interchanges[0].x12)

    assert [s[0] for s in ours] == [s[0] for s in tr3]
    assert ours[-1][1] == tr3[-1][1] == "13"
    same = ("HL", "DMG", "DTP", "EQ")
    assert [s for s in ours if s[0] in same] == [s for s in tr3 if s[0] in same]
    assert [s[:4] for s in ours if s[0] == "NM1"] == [s[:4] for s in tr3 if s[0] == "NM1"]


def test_r02_equivalent_has_the_tr3_shape_plus_ins() -> None:
    from tests.conftest import shared_path

    tr3 = transaction(shared_path("cases", "270-5010-tr3-dependent-2000D-eq30.x12").read_text())

    ours = transaction(build(tr3_inquiry(dependent=True)).interchanges[0].x12)

    assert [s for s in ours if s[0] == "INS"] == [["INS", "N", "19"]]
    without_ins = [s for s in ours if s[0] != "INS"]
    assert [s[0] for s in without_ins] == [s[0] for s in tr3]
    assert ours[-1][1] == "16" and tr3[-1][1] == "15"
    assert [s[:2] for s in ours if s[0] == "DMG"] == [s[:2] for s in tr3 if s[0] == "DMG"]
    same = ("HL", "DTP", "EQ")
    assert [s for s in ours if s[0] in same] == [s for s in tr3 if s[0] in same]
    assert [s[:5] for s in ours if s[0] == "NM1"] == [s[:5] for s in tr3 if s[0] == "NM1"]
