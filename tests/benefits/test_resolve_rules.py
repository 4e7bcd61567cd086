"""Each resolution rule on a fixture written here (no ../shared needed)."""

from __future__ import annotations

from decimal import Decimal

from cptverify.benefits.resolve import is_sentinel
from cptverify.x12.model import Delivery

from .helpers import aaa, eb, patient, resolve

ACTIVE_PLAN = eb("1", None, "30")


def test_procedure_level_beats_service_type() -> None:
    p = patient(
        ACTIVE_PLAN,
        eb("B", "IND", "98", period="27", amount="10", net="Y"),
        eb("B", "IND", "98", period="27", amount="25", net="Y", proc="HC:99213"),
    )
    out = resolve(p)
    assert out["status"] == "covered"
    assert out["match"] == "procedure"
    (copay,) = out["networks"]["in"]["copay"]
    assert copay["amount"] == "25.00"
    assert copay["source"] == "procedure"


def test_procedure_rows_for_another_code_do_not_apply() -> None:
    p = patient(ACTIVE_PLAN, eb("B", "IND", "98", amount="25", net="Y", proc="HC:99214"))
    out = resolve(p)
    assert out["networks"]["in"] is None
    assert out["match"] == "plan"


def test_each_kind_falls_back_on_its_own() -> None:
    """Copay from the procedure row, coinsurance from the service type, deductible from the plan."""
    p = patient(
        ACTIVE_PLAN,
        eb("B", "IND", "98", period="27", amount="25", net="Y", proc="HC:99213"),
        eb("A", "IND", "98", percent=".2", net="Y"),
        eb("C", "IND", "30", period="23", amount="500", net="Y"),
        eb("C", "IND", "30", period="29", amount="120", net="Y"),
    )
    bucket = resolve(p)["networks"]["in"]
    assert bucket["copay"][0]["source"] == "procedure"
    assert bucket["coinsurance"][0] == {
        "percent": "0.2",
        "time_period": None,
        "coverage_level": "IND",
        "source": "service_type",
        "messages": [],
        "places_of_service": [],
        "delivery": [],
    }
    assert bucket["deductible"]["individual"] == {
        "total": "500.00",
        "remaining": "120.00",
        "met": None,
        "source": "plan",
        "total_period": "23",
        "remaining_period": "29",
    }
    assert bucket["deductible"]["family"] is None


def test_rows_with_no_service_type_are_plan_level() -> None:
    p = patient(eb("1", "IND"), eb("C", None, "", period="29", amount="0"))
    out = resolve(p)
    assert out["match"] == "plan"
    assert out["networks"]["unspecified"]["deductible"]["individual"]["remaining"] == "0.00"


def test_networks_stay_apart_and_w_is_both() -> None:
    p = patient(
        ACTIVE_PLAN,
        eb("B", "IND", "98", amount="10", net="Y"),
        eb("B", "IND", "98", amount="30", net="N"),
        eb("A", "IND", "98", percent="0", net="W"),
        eb("G", "IND", "30", period="29", amount="800", net="U"),
    )
    nets = resolve(p)["networks"]
    assert [c["amount"] for c in nets["in"]["copay"]] == ["10.00"]
    assert [c["amount"] for c in nets["out"]["copay"]] == ["30.00"]
    assert nets["both"]["coinsurance"][0]["percent"] == "0"
    assert nets["unspecified"]["out_of_pocket"]["individual"]["remaining"] == "800.00"


def test_time_periods_are_never_derived() -> None:
    """Only a total (23) was sent: the remaining amount stays null, not total minus met."""
    p = patient(
        ACTIVE_PLAN,
        eb("C", "IND", "30", period="23", amount="1000", net="Y"),
        eb("C", "IND", "30", period="24", amount="400", net="Y"),
        eb("C", "FAM", "30", period="29", amount="1500", net="Y"),
    )
    ded = resolve(p)["networks"]["in"]["deductible"]
    assert ded["individual"]["total"] == "1000.00"
    assert ded["individual"]["met"] == "400.00"
    assert ded["individual"]["remaining"] is None
    assert ded["family"]["remaining"] == "1500.00"
    assert ded["family"]["total"] is None


def test_lifetime_total_pairs_with_lifetime_remaining() -> None:
    p = patient(
        ACTIVE_PLAN,
        eb("G", "IND", "30", period="32", amount="20000", net="Y"),
        eb("G", "IND", "30", period="33", amount="15000", net="Y"),
        eb("G", "IND", "30", period="29", amount="100", net="Y"),
    )
    oop = resolve(p)["networks"]["in"]["out_of_pocket"]["individual"]
    assert (oop["total"], oop["total_period"]) == ("20000.00", "32")
    assert (oop["remaining"], oop["remaining_period"]) == ("15000.00", "33")


def test_sentinels_and_remaining_against_them_are_dropped_with_notes() -> None:
    p = patient(
        ACTIVE_PLAN,
        eb("C", "FAM", "30", period="23", amount="99999.99", net="W"),
        eb("C", "FAM", "30", period="29", amount="99709.99", net="W"),
        eb("C", "IND", "30", period="23", amount="290", net="W"),
        eb("C", "IND", "30", period="29", amount="0", net="W"),
        eb("B", "IND", "98", amount="999999.99", net="Y"),
    )
    out = resolve(p)
    ded = out["networks"]["both"]["deductible"]
    assert ded["individual"]["remaining"] == "0.00"
    assert ded["family"] is None
    assert out["networks"]["in"] is None
    notes = " | ".join(out["notes"])
    assert "99999.99 is a payer placeholder" in notes
    assert "remaining 99709.99 was computed against a placeholder total" in notes
    assert "999999.99" in notes


def test_sentinel_rule() -> None:
    for text in ("99999.99", "999999.99", "9999999.99", "99999", "999999.00"):
        assert is_sentinel(Decimal(text)), text
    for text in ("9999.99", "99709.99", "999", "99999.98", "99999.55", "0"):
        assert not is_sentinel(Decimal(text)), text


def test_copays_told_apart_by_msg_are_all_returned() -> None:
    """B10: three STC 98 in-network copays that differ only by MSG; none is collapsed."""
    p = patient(
        ACTIVE_PLAN,
        eb("B", "EMP", "98", amount="45", net="Y", msgs=("PCP OFFICE",)),
        eb("B", "EMP", "98", amount="70", net="Y", msgs=("SPECIALIST OFFICE",)),
        eb("B", "EMP", "98", amount="0", net="Y", msgs=("TELEMEDICINE",), pos=("02",)),
    )
    copays = resolve(p)["networks"]["in"]["copay"]
    assert [(c["amount"], c["messages"]) for c in copays] == [
        ("45.00", ["PCP OFFICE"]),
        ("70.00", ["SPECIALIST OFFICE"]),
        ("0.00", ["TELEMEDICINE"]),
    ]
    assert copays[2]["places_of_service"] == ["02"]
    assert {c["coverage_level"] for c in copays} == {"EMP"}


def test_rows_told_apart_by_delivery_pattern_are_kept() -> None:
    weekly = Delivery(quantity_qualifier="VS", quantity=Decimal("2"), time_period="35")
    yearly = Delivery(quantity_qualifier="VS", quantity=Decimal("30"), time_period="22")
    p = patient(
        ACTIVE_PLAN,
        eb("F", "IND", "PT", net="Y", hsd=(weekly,)),
        eb("F", "IND", "PT", net="Y", hsd=(yearly,)),
    )
    limits = resolve(p, "97110")["networks"]["in"]["limits"]
    assert [lim["delivery"][0]["quantity"] for lim in limits] == ["2", "30"]


def test_limits_quantities_and_authorization() -> None:
    p = patient(
        ACTIVE_PLAN,
        eb(
            "F",
            "IND",
            "PT",
            period="22",
            qty=("VS", "30"),
            auth="Y",
            net="Y",
            proc="HC:97110:GP",
            msgs=("PRIOR AUTHORIZATION REQUIRED",),
        ),
        eb("A", "IND", "PT", percent=".2", auth="N", net="Y"),
    )
    bucket = resolve(p, "97110", modifiers=("GP",))["networks"]["in"]
    (limit,) = bucket["limits"]
    assert (limit["quantity_qualifier"], limit["quantity"], limit["time_period"]) == (
        "VS",
        "30",
        "22",
    )
    assert limit["source"] == "procedure"
    assert bucket["authorization_required"] == {
        "required": "Y",
        "source": "procedure",
        "messages": ["PRIOR AUTHORIZATION REQUIRED"],
    }


def test_modifiers_matching() -> None:
    """A row with modifiers needs them; a row without modifiers matches any modifiers."""
    p = patient(
        ACTIVE_PLAN,
        eb("B", "IND", "PT", amount="25", net="Y", proc="HC:97110:GP"),
        eb("B", "IND", "PT", amount="40", net="N", proc="HC:97110"),
    )
    with_gp = resolve(p, "97110", modifiers=("GP", "59"))
    assert with_gp["networks"]["in"]["copay"][0]["amount"] == "25.00"
    assert with_gp["networks"]["out"]["copay"][0]["amount"] == "40.00"
    assert with_gp["modifiers"] == ["GP", "59"]
    without = resolve(p, "97110")
    assert without["networks"]["in"] is None
    assert without["networks"]["out"]["copay"][0]["source"] == "procedure"


def test_not_covered_by_eb_i_for_the_service_type() -> None:
    p = patient(ACTIVE_PLAN, eb("I", "IND", "62", msgs=("NOT A COVERED BENEFIT",)))
    out = resolve(p, "70551")
    assert out["status"] == "not_covered"
    assert out["match"] == "service_type"
    assert out["networks"]["unspecified"]["messages"] == ["NOT A COVERED BENEFIT"]


def test_not_covered_for_the_procedure_even_when_its_service_type_is_active() -> None:
    p = patient(ACTIVE_PLAN, eb("1", "IND", "62"), eb("I", "IND", "62", proc="HC:70551"))
    assert resolve(p, "70551")["status"] == "not_covered"
    assert resolve(p, "70552")["status"] == "covered"


def test_covered_in_network_not_out_is_covered_with_a_note() -> None:
    p = patient(ACTIVE_PLAN, eb("1", "IND", "98", net="Y"), eb("I", "IND", "98", net="N"))
    out = resolve(p)
    assert out["status"] == "covered"
    assert any("not covered out of network" in n for n in out["notes"])


def test_inactive_and_unknown() -> None:
    assert resolve(patient(eb("6", "IND", "30"), status="inactive"))["status"] == "inactive"
    out = resolve(patient(status="unknown"))
    assert out["status"] == "unknown"
    assert out["match"] is None
    assert all(v is None for v in out["networks"].values())


def test_rejections_from_every_loop() -> None:
    """2000A/2100A/2100B (the transaction's), 2100C and a 2110C row for this procedure."""
    tx = [aaa("2000A", "42", "R", "Y"), aaa("2100A", "79"), aaa("2100B", "43")]
    p = patient(
        eb("1", "IND", "30", errors=(aaa("2110C", "70"),)),
        eb("B", "IND", "98", amount="10", errors=(aaa("2110C", "AG"),)),
        eb("B", "IND", "62", amount="10", errors=(aaa("2110C", "55"),)),
        errors=(aaa("2100C", "72"),),
        status="rejected",
    )
    out = resolve(p, transaction_errors=tx)
    assert out["status"] == "rejected"
    assert [(r["loop"], r["code"]) for r in out["rejections"]] == [
        ("2000A", "42"),
        ("2100A", "79"),
        ("2100B", "43"),
        ("2100C", "72"),
        ("2110C", "70"),
        ("2110C", "AG"),
    ]


def test_a_2110_rejection_rejects_the_procedure_even_on_an_active_patient() -> None:
    p = patient(ACTIVE_PLAN, eb("1", "IND", "98", proc="HC:99213", errors=(aaa("2110C", "AG"),)))
    assert resolve(p)["status"] == "rejected"
    assert resolve(p, "70551")["status"] == "covered"


def test_per_visit_copay_of_a_day_period_keeps_its_period() -> None:
    p = patient(ACTIVE_PLAN, eb("B", "IND", "98", period="7", amount="15", net="W"))
    copay = resolve(p)["networks"]["both"]["copay"][0]
    assert (copay["amount"], copay["time_period"]) == ("15.00", "7")


def test_no_patient_data_in_the_result() -> None:
    p = patient(ACTIVE_PLAN, eb("B", "IND", "98", amount="10", net="Y"))
    text = repr(resolve(p, allowed="100", network="in"))
    assert "CANARY" not in text


def test_modifiers_given_as_a_list_are_accepted() -> None:
    """Callers building requests from JSON may pass lists; the default crosswalk still works."""
    from cptverify.benefits.resolve import ProcedureRequest, resolve_procedures

    request = ProcedureRequest("97110", modifiers=["GP"])  # type: ignore[arg-type]
    (result,) = resolve_procedures(patient(ACTIVE_PLAN), [request])
    assert result.service_types == ["PT", "AE"]
    assert result.modifiers == ["GP"]
