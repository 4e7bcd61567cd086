"""The patient-share estimate on worked examples; the arithmetic is in each docstring."""

from __future__ import annotations

from cptverify.x12.model import Benefit

from .helpers import eb, patient, resolve

ACTIVE = eb("1", None, "30")


def ded(remaining: str, net: str = "Y", level: str = "IND") -> Benefit:
    return eb("C", level, "30", period="29", amount=remaining, net=net)


def oop(remaining: str, net: str = "Y", level: str = "IND") -> Benefit:
    return eb("G", level, "30", period="29", amount=remaining, net=net)


def test_deductible_then_coinsurance() -> None:
    """Allowed 1000.00, deductible remaining 200.00, coinsurance 20%, OOP remaining 5000.00.

    deductible part = min(1000, 200) = 200.00; rest = 800.00; coinsurance = 800 x 0.2 = 160.00;
    patient pays 200 + 160 = 360.00 (below the 5000 cap); plan pays 1000 - 360 = 640.00.
    """
    p = patient(ACTIVE, ded("200"), oop("5000"), eb("A", "IND", "98", percent=".2", net="Y"))
    est = resolve(p, allowed="1000.00", network="in")["estimate"]
    assert (est["patient_pays"], est["plan_pays"], est["missing"]) == ("360.00", "640.00", [])
    assert est["allowed_amount"] == "1000.00" and est["network"] == "in"
    assert any("deductible is paid first" in a for a in est["assumptions"])


def test_met_deductible_then_copay() -> None:
    """Allowed 95.00, deductible remaining 0.00, copay 25.00.

    deductible part = min(95, 0) = 0; rest = 95.00; copay = min(25, 95) = 25.00;
    patient pays 25.00; plan pays 95 - 25 = 70.00. No OOP was sent: no cap, said so.
    """
    p = patient(ACTIVE, ded("0"), eb("B", "IND", "98", period="27", amount="25", net="Y"))
    est = resolve(p, allowed="95.00", network="in")["estimate"]
    assert (est["patient_pays"], est["plan_pays"]) == ("25.00", "70.00")
    assert any("no cap" in a for a in est["assumptions"])


def test_capped_by_out_of_pocket_remaining() -> None:
    """Allowed 2000.00, deductible remaining 1500.00, coinsurance 30%, OOP remaining 1600.00.

    1500 + (2000 - 1500) x 0.3 = 1500 + 150 = 1650.00 > 1600.00, so the patient pays 1600.00
    and the plan 400.00.
    """
    p = patient(ACTIVE, ded("1500"), oop("1600"), eb("A", "IND", "98", percent=".3", net="Y"))
    est = resolve(p, allowed="2000.00", network="in")["estimate"]
    assert (est["patient_pays"], est["plan_pays"]) == ("1600.00", "400.00")


def test_copay_and_coinsurance_both_charged() -> None:
    """Allowed 300.00, deductible remaining 100.00, copay 20.00, coinsurance 10%.

    100 (deductible) + 20 (copay) + (300 - 100 - 20) x 0.1 = 100 + 20 + 18 = 138.00; plan 162.00.
    """
    p = patient(
        ACTIVE,
        ded("100"),
        eb("B", "IND", "98", amount="20", net="Y"),
        eb("A", "IND", "98", percent=".1", net="Y"),
    )
    est = resolve(p, allowed="300", network="in")["estimate"]
    assert (est["patient_pays"], est["plan_pays"]) == ("138.00", "162.00")


def test_family_remaining_smaller_than_individual_applies() -> None:
    """Allowed 500.00, individual deductible remaining 400.00, family remaining 150.00, 20%.

    min(400, 150) = 150.00 applies; 150 + (500 - 150) x 0.2 = 150 + 70 = 220.00; plan 280.00.
    """
    p = patient(
        ACTIVE, ded("400"), ded("150", level="FAM"), eb("A", "IND", "98", percent=".2", net="Y")
    )
    est = resolve(p, allowed="500", network="in")["estimate"]
    assert (est["patient_pays"], est["plan_pays"]) == ("220.00", "280.00")


def test_out_of_network_uses_out_and_both_rows() -> None:
    """Out of network: the N copay (30.00) and the W deductible (0.00); the Y copay is ignored.

    Allowed 120.00: 0 + 30 = 30.00; plan 90.00.
    """
    p = patient(
        ACTIVE,
        ded("0", net="W"),
        eb("B", "IND", "98", amount="10", net="Y"),
        eb("B", "IND", "98", amount="30", net="N"),
    )
    est = resolve(p, allowed="120", network="out")["estimate"]
    assert (est["patient_pays"], est["plan_pays"]) == ("30.00", "90.00")
    assert any("any-network" in a for a in est["assumptions"])


def test_unknown_network_uses_only_both_and_unspecified_and_says_so() -> None:
    """Network unknown: the Y copay may not be used, so the copay is missing; no figures."""
    p = patient(ACTIVE, ded("0", net="W"), eb("B", "IND", "98", amount="10", net="Y"))
    est = resolve(p, allowed="120")["estimate"]
    assert est["patient_pays"] is None and est["plan_pays"] is None
    assert est["missing"] == ["copay or coinsurance"]
    assert any("network is unknown" in a for a in est["assumptions"])


def test_missing_deductible_gives_no_figures() -> None:
    """C01-like: copays only, no deductible sent; the estimate names what is missing."""
    p = patient(ACTIVE, eb("B", "IND", "98", amount="10", net="Y"))
    est = resolve(p, allowed="100", network="in")["estimate"]
    assert (est["patient_pays"], est["missing"]) == (None, ["deductible remaining"])


def test_several_copays_told_apart_by_msg_give_no_figures() -> None:
    p = patient(
        ACTIVE,
        ded("0"),
        eb("B", "EMP", "98", amount="45", net="Y", msgs=("PCP",)),
        eb("B", "EMP", "98", amount="0", net="Y", msgs=("TELEMEDICINE",)),
    )
    est = resolve(p, allowed="100", network="in")["estimate"]
    assert est["patient_pays"] is None
    assert "several, 0.00, 45.00" in est["missing"][0]


def test_not_covered_patient_pays_all_and_rejected_has_no_figures() -> None:
    p = patient(ACTIVE, eb("I", "IND", "62"))
    est = resolve(p, "70551", allowed="800", network="in")["estimate"]
    assert (est["patient_pays"], est["plan_pays"]) == ("800.00", "0.00")
    rejected = resolve(patient(status="rejected"), allowed="80")["estimate"]
    assert rejected["patient_pays"] is None
    assert rejected["missing"] == ["coverage (the status is rejected)"]


def test_no_allowed_amount_no_estimate() -> None:
    assert resolve(patient(ACTIVE))["estimate"] is None
