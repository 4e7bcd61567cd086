"""Adversarial 271 values for per-procedure resolution and the estimate.

The reader keeps the payer's values raw (a negative amount or a percent above 1 is a valid X12
decimal), so the resolver is the last place that can keep such values out of an estimate. The
estimate refuses such values (no figure, `missing` says why) instead of a negative share."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.benefits.helpers import eb, patient, resolve

ALLOWED = "100.00"


def _estimate(*rows: Any, allowed: str = ALLOWED, network: str = "in") -> dict[str, Any]:
    result = resolve(patient(*rows), "99213", allowed=allowed, network=network)
    estimate = result["estimate"]
    assert estimate is not None
    return dict(estimate)


def _share_is_sane(estimate: dict[str, Any], allowed: str = ALLOWED) -> None:
    if estimate["patient_pays"] is None:
        assert estimate["missing"]
        return
    pays, plan = Decimal(estimate["patient_pays"]), Decimal(estimate["plan_pays"])
    assert Decimal(0) <= pays <= Decimal(allowed)
    assert plan >= 0


NO_DEDUCTIBLE = eb("C", "IND", "30", period="29", amount="0", net="Y")


@pytest.mark.parametrize(
    "rows",
    [
        (
            eb("C", "IND", "30", period="29", amount="-100.00", net="Y"),
            eb("B", "IND", "98", period="27", amount="10", net="Y"),
        ),
        (NO_DEDUCTIBLE, eb("B", "IND", "98", period="27", amount="-50", net="Y")),
        (
            NO_DEDUCTIBLE,
            eb("A", "IND", "98", period="27", percent=".2", net="Y"),
            eb("G", "IND", "30", period="29", amount="-10", net="Y"),
        ),
    ],
    ids=["deductible", "copay", "out_of_pocket"],
)
def test_negative_amounts_never_give_a_negative_share(rows: tuple[Any, ...]) -> None:
    _share_is_sane(_estimate(*rows))


@pytest.mark.parametrize("percent", ["2", "20", "9.99", "-0.2"])
def test_coinsurance_outside_zero_to_one_is_not_applied(percent: str) -> None:
    estimate = _estimate(NO_DEDUCTIBLE, eb("A", "IND", "98", period="27", percent=percent, net="Y"))
    _share_is_sane(estimate)


@pytest.mark.parametrize("allowed", ["123456789012345678901234567890.12", "1E+40"])
def test_huge_allowed_amount_does_not_raise(allowed: str) -> None:
    rows = (NO_DEDUCTIBLE, eb("A", "IND", "98", period="27", percent=".2", net="Y"))
    _share_is_sane(_estimate(*rows, allowed=allowed), allowed)


# What held up: valid values in any mixture keep the share within the allowed amount.
_ROW = st.builds(
    lambda kind, level, sts, period, amount, percent, net, proc: eb(
        kind,
        level,
        sts,
        period=period,
        amount=None if amount is None else str(amount),
        percent=None if percent is None else str(percent),
        net=net,
        proc=proc,
    ),
    st.sampled_from(["A", "B", "C", "G", "1", "I", "F", "D"]),
    st.sampled_from(["IND", "FAM", "EMP", "ECH", None]),
    st.sampled_from(["98", "30", "", "PT^AE", "62"]),
    st.sampled_from(["23", "29", "24", "27", "7", "32", "33", "22", None]),
    st.one_of(
        st.none(),
        st.decimals(min_value=0, max_value=100000, places=2),
        st.sampled_from([Decimal("99999.99"), Decimal("999999.99"), Decimal("0")]),
    ),
    st.one_of(st.none(), st.decimals(min_value=0, max_value=1, places=2)),
    st.sampled_from(["Y", "N", "W", "U", None]),
    st.sampled_from([None, "HC:99213", "HC:99213:25", "HC:99214"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    rows=st.lists(_ROW, max_size=10),
    network=st.sampled_from(["in", "out", "unknown"]),
    allowed=st.decimals(min_value=0, max_value=10000, places=2),
)
def test_valid_rows_in_any_mixture_keep_the_share_within_the_allowed_amount(
    rows: list[Any], network: str, allowed: Decimal
) -> None:
    result = resolve(patient(*rows), "99213", allowed=str(allowed), network=network)
    estimate = result["estimate"]
    _share_is_sane(estimate, str(allowed))
    if estimate["patient_pays"] is not None:
        total = Decimal(estimate["patient_pays"]) + Decimal(estimate["plan_pays"])
        assert total == allowed


def test_w_y_and_n_rows_stay_in_their_buckets() -> None:
    rows = (
        eb("C", "IND", "30", period="29", amount="50", net="W"),
        eb("C", "IND", "30", period="29", amount="100", net="Y"),
        eb("C", "IND", "30", period="29", amount="200", net="N"),
    )
    networks = resolve(patient(*rows), "99213")["networks"]
    remaining = {
        name: networks[name]["deductible"]["individual"]["remaining"]
        for name in ("in", "out", "both")
    }
    assert remaining == {"in": "100.00", "out": "200.00", "both": "50.00"}
    assert networks["unspecified"] is None


def test_family_only_rows_never_fill_the_individual_slot() -> None:
    rows = (eb("C", "FAM", "30", period="29", amount="100", net="Y"),)
    deductible = resolve(patient(*rows), "99213")["networks"]["in"]["deductible"]
    assert deductible["individual"] is None
    assert deductible["family"]["remaining"] == "100.00"


def test_conflicting_rows_are_noted_not_merged() -> None:
    rows = (
        eb("C", "IND", "30", period="29", amount="100", net="Y"),
        eb("C", "IND", "30", period="29", amount="300", net="Y"),
    )
    result = resolve(patient(*rows), "99213")
    assert any("100.00" in note and "300.00" in note for note in result["notes"])


@pytest.mark.parametrize("amount", ["99999.99", "999999.99", "9999999.99", "99999", "-99999.99"])
def test_sentinel_variants_are_dropped(amount: str) -> None:
    rows = (eb("C", "IND", "30", period="29", amount=amount, net="Y"),)
    result = resolve(patient(*rows), "99213")
    in_network = result["networks"]["in"]
    assert in_network is None or in_network["deductible"]["individual"] is None
    assert any("placeholder" in note for note in result["notes"])


@pytest.mark.parametrize("allowed", ["-5", "NaN", "Infinity"])
def test_invalid_allowed_amount_gives_no_figures(allowed: str) -> None:
    rows = (NO_DEDUCTIBLE, eb("A", "IND", "98", period="27", percent=".2", net="Y"))
    estimate = _estimate(*rows, allowed=allowed)
    assert estimate["patient_pays"] is None and estimate["missing"]


@pytest.mark.parametrize(
    "amount", ["1e999", "1E+2", "1_000", "\u0669\u0665", "95.001", "10000000000", "-5", "NaN"]
)
def test_cli_allowed_amount_outside_the_inquiry_rule_is_an_argument_error(
    amount: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from cptverify_local.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["parse", "any.x12", "--cpt", "99213", "--allowed", f"99213={amount}"])
    _, err = capsys.readouterr()
    assert caught.value.code == 2
    assert "--allowed" in err and "Traceback" not in err
