"""Crosswalked service types are ordered, most specific first: per kind (and network) the first
service type with rows of that kind answers, the next only when it has none, then plan level."""

from __future__ import annotations

from typing import Any

import pytest

from cptverify.benefits.crosswalk import DENTAL_RANGES, MEDICAL_RANGES
from cptverify.benefits.resolve import ProcedureRequest, resolve_procedures
from cptverify.benefits.result import procedure_result_to_dict
from cptverify.x12.model import Benefit, Patient

from .helpers import aaa, eb, patient

ACTIVE_PLAN = eb("1", None, "30")


def resolve(
    p: Patient, service_types: tuple[str, ...] = ("98", "96"), network: Any = "unknown"
) -> dict[str, Any]:
    request = ProcedureRequest("99213", service_types=service_types)
    (result,) = resolve_procedures(p, [request], network=network)
    return procedure_result_to_dict(result)


# One row per kind for each of two service types; the first type answers every kind it has.
KINDS: list[tuple[str, dict[str, Any], str]] = [
    ("B", {"period": "27", "amount": "15"}, "copay"),
    ("A", {"percent": ".2"}, "coinsurance"),
    ("C", {"period": "29", "amount": "100"}, "deductible"),
    ("G", {"period": "29", "amount": "900"}, "out_of_pocket"),
    ("F", {"qty": ("VS", "20"), "period": "23"}, "limits"),
]


def _value(bucket: dict[str, Any], kind: str) -> Any:
    if kind == "copay":
        return [c["amount"] for c in bucket["copay"]]
    if kind == "coinsurance":
        return [c["percent"] for c in bucket["coinsurance"]]
    if kind in ("deductible", "out_of_pocket"):
        return bucket[kind]["individual"]["remaining"]
    return [lim["quantity"] for lim in bucket["limits"]]


@pytest.mark.parametrize(("eb01", "fields", "kind"), KINDS)
def test_first_service_type_with_rows_of_a_kind_answers_alone(
    eb01: str, fields: dict[str, Any], kind: str
) -> None:
    second = {**fields}
    for key in ("amount", "percent"):
        if key in second:
            second[key] = "7" if key == "amount" else ".5"
    if "qty" in second:
        second["qty"] = ("VS", "40")
    p = patient(
        ACTIVE_PLAN,
        eb(eb01, "IND", "96", net="Y", **second),
        eb(eb01, "IND", "98", net="Y", **fields),
    )
    first = _value(resolve(p)["networks"]["in"], kind)
    other = _value(resolve(p, ("96", "98"))["networks"]["in"], kind)
    assert first != other
    expected = {"copay": ["15.00"], "coinsurance": ["0.2"], "deductible": "100.00"}
    expected |= {"out_of_pocket": "900.00", "limits": ["20"]}
    assert first == expected[kind]


@pytest.mark.parametrize(("eb01", "fields", "kind"), KINDS)
def test_next_service_type_answers_a_kind_the_first_lacks(
    eb01: str, fields: dict[str, Any], kind: str
) -> None:
    # 98 speaks only of coverage and another kind; the kind itself comes from 96.
    other_kind = "B" if eb01 != "B" else "A"
    p = patient(
        ACTIVE_PLAN,
        eb("1", "IND", "98", net="Y"),
        eb(other_kind, "IND", "98", net="Y", amount="1", percent="0.1", period="27"),
        eb(eb01, "IND", "96", net="Y", **fields),
        eb(eb01, "IND", "30", net="Y", **fields),
    )
    out = resolve(p)
    bucket = out["networks"]["in"]
    assert out["match"] == "service_type"
    assert _value(bucket, kind) not in (None, [])
    sources = {
        "copay": bucket["copay"],
        "coinsurance": bucket["coinsurance"],
        "limits": bucket["limits"],
    }
    if kind in sources:
        assert {e["source"] for e in sources[kind]} == {"service_type"}
    elif kind in ("deductible", "out_of_pocket"):
        assert bucket[kind]["individual"]["source"] == "service_type"


def test_plan_level_only_when_no_service_type_has_the_kind() -> None:
    p = patient(
        ACTIVE_PLAN,
        eb("B", "IND", "98", period="27", amount="15", net="Y"),
        eb("C", "IND", "30", period="29", amount="250", net="Y"),
    )
    bucket = resolve(p)["networks"]["in"]
    assert bucket["copay"][0]["source"] == "service_type"
    assert bucket["deductible"]["individual"]["source"] == "plan"


def test_fallback_is_per_network() -> None:
    """98 has an in-network copay only; the out-of-network copay comes from 96."""
    p = patient(
        ACTIVE_PLAN,
        eb("B", "IND", "98", period="27", amount="15", net="Y"),
        eb("B", "IND", "96", period="27", amount="0", net="Y"),
        eb("B", "IND", "96", period="27", amount="40", net="N"),
    )
    out = resolve(p)
    assert [c["amount"] for c in out["networks"]["in"]["copay"]] == ["15.00"]
    assert [c["amount"] for c in out["networks"]["out"]["copay"]] == ["40.00"]


def test_authorization_and_messages_follow_the_first_type() -> None:
    p = patient(
        ACTIVE_PLAN,
        eb("B", "IND", "98", amount="15", auth="N", net="Y", msgs=("OFFICE",)),
        eb("B", "IND", "96", amount="0", auth="Y", net="Y", msgs=("SPECIALIST",)),
    )
    bucket = resolve(p)["networks"]["in"]
    assert bucket["authorization_required"] == {
        "required": "N",
        "source": "service_type",
        "messages": ["OFFICE"],
    }
    assert [c["messages"] for c in bucket["copay"]] == [["OFFICE"]]


def test_non_coverage_follows_the_first_type_with_coverage_rows() -> None:
    refused_first = patient(
        ACTIVE_PLAN, eb("I", "IND", "98", net="Y"), eb("1", "IND", "96", net="Y")
    )
    # The provider is in the refused network (a refusal for one network only says nothing
    # about the other).
    assert resolve(refused_first, network="in")["status"] == "not_covered"
    covered_first = patient(
        ACTIVE_PLAN, eb("1", "IND", "98", net="Y"), eb("I", "IND", "96", net="Y")
    )
    out = resolve(covered_first)
    assert out["status"] == "covered"
    assert out["notes"] == []
    # 98 says nothing about coverage: 96 decides.
    silent_first = patient(
        ACTIVE_PLAN, eb("B", "IND", "98", amount="5", net="Y"), eb("I", "IND", "96", net="Y")
    )
    assert resolve(silent_first, network="in")["status"] == "not_covered"


def test_procedure_level_still_beats_every_service_type() -> None:
    p = patient(
        ACTIVE_PLAN,
        eb("B", "IND", "98", period="27", amount="15", net="Y"),
        eb("B", "IND", "96", period="27", amount="0", net="Y", proc="HC:99213"),
    )
    (copay,) = resolve(p)["networks"]["in"]["copay"]
    assert (copay["amount"], copay["source"]) == ("0.00", "procedure")


def test_a_row_for_both_types_counts_under_the_first() -> None:
    shared: Benefit = eb("B", "IND", "98^96", period="27", amount="20", net="Y")
    p = patient(ACTIVE_PLAN, shared, eb("B", "IND", "96", period="27", amount="0", net="Y"))
    assert [c["amount"] for c in resolve(p)["networks"]["in"]["copay"]] == ["20.00"]


def test_row_errors_of_every_crosswalked_type_still_reject() -> None:
    p = patient(
        ACTIVE_PLAN,
        eb("B", "IND", "98", amount="15", net="Y"),
        eb("B", "IND", "96", amount="0", net="Y", errors=(aaa("2110C", "42"),)),
    )
    out = resolve(p)
    assert out["status"] == "rejected"
    assert [a["code"] for a in out["rejections"]] == ["42"]


def test_service_types_keep_the_crosswalk_order_in_the_result() -> None:
    p = patient(ACTIVE_PLAN)
    (result,) = resolve_procedures(p, [ProcedureRequest("99213")])
    assert result.service_types == ["98", "96"]


# Broad service types come after the ones naming the service itself.
_BROAD_RANK = {"98": 1, "96": 2, "35": 3, "30": 4}


@pytest.mark.parametrize("code_range", [*MEDICAL_RANGES, *DENTAL_RANGES], ids=lambda r: r.first)
def test_crosswalk_lists_specific_service_types_first(code_range: Any) -> None:
    ranks = [_BROAD_RANK.get(st, 0) for st in code_range.service_types]
    assert ranks == sorted(ranks)
