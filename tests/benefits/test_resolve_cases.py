"""Resolution over real payers' files in ../shared/cases (skipped where that folder is absent)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cptverify.benefits.resolve import ProcedureRequest, resolve_procedures
from cptverify.benefits.result import procedure_result_to_dict
from cptverify.x12.reader271 import read_271
from tests.conftest import shared_path


def resolved(case: str, code: str = "99213", role: str | None = None) -> list[dict[str, Any]]:
    """The procedure dicts of every patient (or every patient of `role`) in a case file."""
    ic = read_271(shared_path("cases", case).read_bytes())
    out = []
    for txn in ic.transactions:
        for patient in txn.patients:
            if role and patient.role != role:
                continue
            (result,) = resolve_procedures(
                patient, [ProcedureRequest(code)], rejections_from_transaction=txn.errors
            )
            out.append(procedure_result_to_dict(result))
    return out


def test_c01_tr3_subscriber_99213_through_98() -> None:
    (r,) = resolved("271-tr3-subscriber-active-copay-innet10-outnet30.x12")
    assert (r["status"], r["match"], r["service_types"]) == (
        "covered",
        "service_type",
        ["98", "96"],
    )
    for net, amount in (("in", "10.00"), ("out", "30.00")):
        bucket = r["networks"][net]
        assert [(c["amount"], c["time_period"], c["source"]) for c in bucket["copay"]] == [
            (amount, "27", "service_type")
        ]
        assert bucket["coinsurance"] == []
        assert bucket["deductible"] == {"individual": None, "family": None}
        assert bucket["out_of_pocket"] == {"individual": None, "family": None}
    assert r["rejections"] == []


def test_c02_dependent_same_answer() -> None:
    (r,) = resolved("271-tr3-dependent-2000D-copay.x12", role="dependent")
    assert (r["status"], r["match"]) == ("covered", "service_type")
    assert r["networks"]["in"]["copay"][0]["amount"] == "10.00"
    assert r["networks"]["out"]["copay"][0]["amount"] == "30.00"
    assert r["networks"]["in"]["coinsurance"] == []


def test_c23_medicare_advantage_accumulators_and_sentinels() -> None:
    (r,) = resolved("271-uhc-medicare-advantage-2018-period-23-24-29-sentinel-99999.x12")
    assert (r["status"], r["match"]) == ("covered", "service_type")
    assert r["networks"]["in"] is None and r["networks"]["out"] is None
    both = r["networks"]["both"]
    ded = both["deductible"]
    assert (ded["individual"]["total"], ded["individual"]["remaining"]) == ("290.00", "0.00")
    assert ded["individual"]["source"] == "plan"
    assert ded["family"]["total"] is None and ded["family"]["remaining"] is None
    oop = both["out_of_pocket"]
    assert oop["individual"]["remaining"] == "2987.32"
    assert oop["individual"]["total"] == "3290.00"
    assert oop["family"]["remaining"] is None
    # 99213 is asked as 98 (office visit) then 96 (professional): 98 has a copay and a
    # coinsurance, so the 96 specialist rows are not used for either (the oracle: STC 98 $15).
    assert [(c["amount"], c["time_period"], c["messages"]) for c in both["copay"]] == [
        ("15.00", "7", [])
    ]
    assert [c["percent"] for c in both["coinsurance"]] == ["0"]
    assert both["messages"] == []
    notes = " ".join(r["notes"])
    assert "99999.99" in notes and "99709.99" in notes and "99697.31" in notes


def test_c23_99213_estimate_uses_the_98_copay() -> None:
    ic = read_271(
        shared_path(
            "cases", "271-uhc-medicare-advantage-2018-period-23-24-29-sentinel-99999.x12"
        ).read_bytes()
    )
    patient = ic.transactions[0].patients[0]
    request = ProcedureRequest("99213", allowed_amount=Decimal("95.00"))
    (r,) = resolve_procedures(patient, [request], network="in")
    estimate = procedure_result_to_dict(r)["estimate"]
    # Deductible remaining 0.00, then the 15.00 copay, then 0% coinsurance on the rest.
    assert (estimate["patient_pays"], estimate["plan_pays"], estimate["missing"]) == (
        "15.00",
        "80.00",
        [],
    )


def test_c23_specialist_coinsurance_and_msg_rows() -> None:
    """Outpatient (50) rows told apart only by MSG are all returned."""
    ic = read_271(
        shared_path(
            "cases", "271-uhc-medicare-advantage-2018-period-23-24-29-sentinel-99999.x12"
        ).read_bytes()
    )
    patient = ic.transactions[0].patients[0]
    (r,) = resolve_procedures(patient, [ProcedureRequest("99999", service_types=("50",))])
    both = procedure_result_to_dict(r)["networks"]["both"]
    assert sorted(m for c in both["copay"] for m in c["messages"]) == [
        "OUTPATIENT HOSPITAL",
        "OUTPATIENT SURGERY",
    ]
    assert [c["percent"] for c in both["coinsurance"]] == ["0.2", "0.2"]


def test_rejected_cases_carry_their_aaa() -> None:
    (c08,) = resolved("271-aaa-multi-loop-no-eb.x12")
    assert c08["status"] == "rejected"
    assert [(a["loop"], a["code"]) for a in c08["rejections"]] == [
        ("2000A", "80"), ("2000A", "79"), ("2100A", "79"), ("2100A", "80"),
        ("2100B", "41"), ("2100B", "41"), ("2100C", "42"),
    ]  # fmt: skip
    (c15,) = resolved("271-aaa-72-75-2100C-n4-missing-city.x12")
    assert (c15["status"], [a["code"] for a in c15["rejections"]]) == ("rejected", ["72", "75"])
    (c26,) = resolved("271-aaa-N-72-2100C-invalid-member-id-wv-medicaid-core.x12")
    assert c26["status"] == "rejected"
    assert [(a["valid_request"], a["code"], a["follow_up"]) for a in c26["rejections"]] == [
        ("N", "72", "C")
    ]


def test_c36_dependent_inactive() -> None:
    (r,) = resolved("271-4010-dependent-inactive-eb6-long-msg-isa-105-chars.x12", role="dependent")
    assert r["status"] == "inactive"


def test_c34_procedure_level_eb13_90669() -> None:
    (r,) = resolved("271-4010-cms-hets-component-pipe-eb13-hc-90669-iii-tab-indented.x12", "90669")
    assert r["match"] == "procedure"


def test_c37_medicare_part_b_deductible_remaining() -> None:
    """Part B's deductible is sent for service type 96 (professional), which the crosswalk gives
    an office visit after 98."""
    ic = read_271(
        shared_path(
            "cases", "271-4010-medicare-via-medifax-part-b-deductible-therapy-cap-blood.x12"
        ).read_bytes()
    )
    patient = ic.transactions[0].patients[0]
    (result,) = resolve_procedures(patient, [ProcedureRequest("99213")])
    r = procedure_result_to_dict(result)
    assert (r["status"], r["match"], r["service_types"]) == (
        "covered",
        "service_type",
        ["98", "96"],
    )
    ded = r["networks"]["unspecified"]["deductible"]["individual"]
    assert (ded["remaining"], ded["remaining_period"], ded["source"]) == (
        "0.00",
        "29",
        "service_type",
    )
