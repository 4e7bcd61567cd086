"""A hostile payer and a careless caller against per-procedure resolution and the estimate.

Each test is a defect found by feeding odd but readable 271 rows through the resolver: codes in
the wrong case, totals sent with the amount met and no amount left, thousands of
messages, and allowed amounts of the wrong type.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from cptverify.benefits.estimate import estimate_patient_share
from cptverify.benefits.resolve import ProcedureRequest, resolve_procedures
from cptverify.benefits.result import procedure_result_to_dict
from tests.benefits.helpers import crosswalk, eb, patient, resolve

NO_DEDUCTIBLE = eb("C", "IND", "30", period="29", amount="0", net="Y")
HALF = eb("A", "IND", "98", period="27", percent=".5", net="Y")


def _estimate(*rows: Any, allowed: str = "100.00", network: str = "in") -> dict[str, Any]:
    estimate = resolve(patient(*rows), "99213", allowed=allowed, network=network)["estimate"]
    assert estimate is not None
    return dict(estimate)


# EB13 modifiers in another case than the request's (and the other way round) are the same
# modifiers: a payer row for 97110 GP must not fall back to the plan level.
@pytest.mark.parametrize(
    ("row_modifiers", "asked"),
    [("gp", ("GP",)), ("GP", ("gp",)), ("59:gp", ("GP", "59")), ("Gp", ("gP",))],
)
def test_modifier_case_does_not_hide_a_procedure_row(
    row_modifiers: str, asked: tuple[str, ...]
) -> None:
    row = eb("B", "IND", "PT", period="27", amount="25", net="Y", proc=f"HC:97110:{row_modifiers}")
    result = resolve(patient(eb("1", "IND", "30"), row), "97110", modifiers=asked)
    assert result["match"] == "procedure"
    assert [c["amount"] for c in result["networks"]["in"]["copay"]] == ["25.00"]


def test_lower_case_qualifier_and_modifier_match_a_request() -> None:
    row = eb("B", "IND", "PT", period="27", amount="25", net="Y", proc="hc:97110:gp")
    result = resolve(patient(eb("1", "IND", "30"), row), "97110", modifiers=("GP",))
    assert result["match"] == "procedure"


# A payer that sends the total and the amount met so far (EB06 23 and 24) but no remaining
# amount (EB06 29): the remaining amount is never worked out by subtraction (the resolution
# rules forbid deriving one figure from another); the estimate says what it did not use.
def test_out_of_pocket_total_and_met_do_not_make_a_remaining_amount() -> None:
    rows = (
        NO_DEDUCTIBLE,
        HALF,
        eb("G", "IND", "30", period="23", amount="3000", net="Y"),
        eb("G", "IND", "30", period="24", amount="3000", net="Y"),
    )
    estimate = _estimate(*rows)
    assert estimate["patient_pays"] == "50.00"
    assert any(
        "met so far (3000.00" in a and "not worked out" in a for a in estimate["assumptions"]
    )


def test_deductible_total_and_met_do_not_make_a_remaining_amount() -> None:
    rows = (
        eb("C", "IND", "30", period="23", amount="500", net="Y"),
        eb("C", "IND", "30", period="24", amount="460", net="Y"),
        HALF,
    )
    estimate = _estimate(*rows)
    assert estimate["patient_pays"] is None
    assert any("deductible" in m for m in estimate["missing"])
    assert any("not worked out" in a for a in estimate["assumptions"])


@pytest.mark.parametrize(
    ("total", "met"),
    [("500", "600"), ("500", "-1")],
    ids=["met_over_total", "negative_met"],
)
def test_inconsistent_total_and_met_give_no_derived_amount(total: str, met: str) -> None:
    rows = (
        eb("C", "IND", "30", period="23", amount=total, net="Y"),
        eb("C", "IND", "30", period="24", amount=met, net="Y"),
        HALF,
    )
    estimate = _estimate(*rows)
    assert estimate["patient_pays"] is None
    assert any("deductible" in m for m in estimate["missing"])


def test_lifetime_total_and_year_to_date_met_give_no_derived_amount() -> None:
    rows = (
        NO_DEDUCTIBLE,
        HALF,
        eb("G", "IND", "30", period="32", amount="3000", net="Y"),
        eb("G", "IND", "30", period="24", amount="3000", net="Y"),
    )
    estimate = _estimate(*rows)
    assert estimate["patient_pays"] == "50.00"
    assert any("no out-of-pocket remaining" in a for a in estimate["assumptions"])


def test_the_remaining_amount_sent_is_used_beside_total_and_met() -> None:
    rows = (
        NO_DEDUCTIBLE,
        HALF,
        eb("G", "IND", "30", period="23", amount="3000", net="Y"),
        eb("G", "IND", "30", period="24", amount="100", net="Y"),
        eb("G", "IND", "30", period="29", amount="10", net="Y"),
    )
    assert _estimate(*rows)["patient_pays"] == "10.00"


# Thousands of rows with their own messages must not cost time growing with the square of
# their number (10,000 rows took about 1 s, 100,000 about 100 s).
@pytest.mark.parametrize("kind", ["1", "D", "I"])
def test_many_messages_resolve_in_linear_time(kind: str) -> None:
    def rows(n: int) -> list[Any]:
        service_type = "30" if kind == "1" else "98"
        return [eb("1", "IND", "30")] + [
            eb(kind, "IND", service_type, msgs=(f"NOTE {i}",)) for i in range(n)
        ]

    def timed(n: int) -> float:
        p = patient(*rows(n))
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            resolve_procedures(p, [ProcedureRequest("99213")], crosswalk=crosswalk)
            best = min(best, time.perf_counter() - start)
        return best

    small, large = timed(2_000), timed(16_000)
    result = resolve(patient(*rows(3)), "99213")
    assert result["status"] in ("covered", "not_covered")
    # Eight times the rows: linear is about 8x (16,000 rows: ~0.03 s); quadratic was about 64x
    # (16,000 rows: ~2 s).
    assert large < max(small * 25, 0.5)


def test_repeated_messages_are_kept_once_in_order() -> None:
    rows = [eb("1", "IND", "30", msgs=(m,)) for m in ("B", "A", "B", "C", "A")]
    result = resolve(patient(*rows), "99213")
    bucket = result["networks"]["unspecified"]
    assert bucket["messages"] == ["B", "A", "C"]


# A Python caller passing an int, a float or a string as the allowed amount gets an estimate
# (numbers) or a TypeError naming the field, never an AttributeError from deep inside.
@pytest.mark.parametrize("allowed", [100, 100.0])
def test_allowed_amount_as_a_plain_number_is_accepted(allowed: Any) -> None:
    p = patient(NO_DEDUCTIBLE, HALF)
    (result,) = resolve_procedures(
        p,
        [ProcedureRequest("99213", allowed_amount=allowed)],
        network="in",
        crosswalk=crosswalk,
    )
    assert procedure_result_to_dict(result)["estimate"]["patient_pays"] == "50.00"


@pytest.mark.parametrize("allowed", ["100", b"100", [100]])
def test_allowed_amount_of_another_type_names_the_field(allowed: Any) -> None:
    p = patient(NO_DEDUCTIBLE, HALF)
    with pytest.raises(TypeError, match="allowed_amount"):
        resolve_procedures(
            p,
            [ProcedureRequest("99213", allowed_amount=allowed)],
            network="in",
            crosswalk=crosswalk,
        )


def test_float_allowed_amount_is_read_as_written() -> None:
    p = patient(NO_DEDUCTIBLE, eb("A", "IND", "98", period="27", percent=".1", net="Y"))
    allowed: Any = 0.1
    (result,) = resolve_procedures(
        p, [ProcedureRequest("99213", allowed_amount=allowed)], network="in", crosswalk=crosswalk
    )
    assert result.estimate is not None
    assert result.estimate.allowed_amount == Decimal("0.1")


# An HMO says "not covered out of network" (EB I, EB12 N) and gives in-network copays: for an
# in-network provider the service is covered (the estimate used to be the whole allowed amount).
HMO = (
    eb("1", "IND", "30"),
    NO_DEDUCTIBLE,
    eb("B", "IND", "98", period="27", amount="10", net="Y"),
    eb("I", None, "98", net="N", msgs=("OUT OF NETWORK NOT COVERED",)),
)


def test_refused_only_out_of_network_is_covered_in_network() -> None:
    result = resolve(patient(*HMO), "99213", allowed="100", network="in")
    assert result["status"] == "covered"
    assert any("not covered out of network" in note for note in result["notes"])
    assert result["estimate"]["patient_pays"] == "10.00"


def test_refused_only_out_of_network_is_not_covered_out_of_network() -> None:
    result = resolve(patient(*HMO), "99213", allowed="100", network="out")
    assert result["status"] == "not_covered"
    assert result["estimate"]["patient_pays"] == "100.00"


# An active row for the network the payer does cover, beside a refusal for the provider's own
# network (demo row APT-1012): the provider's network decides.
ACTIVE_IN_REFUSED_OUT = (
    eb("1", "IND", "30"),
    NO_DEDUCTIBLE,
    eb("1", "IND", "98", net="Y"),
    eb("B", "IND", "98", period="27", amount="10", net="Y"),
    eb("I", "IND", "98", net="N"),
)


def test_active_in_network_beside_a_refusal_out_is_not_covered_for_an_outside_provider() -> None:
    result = resolve(patient(*ACTIVE_IN_REFUSED_OUT), "99213", allowed="100", network="out")
    assert result["status"] == "not_covered"
    assert result["estimate"]["patient_pays"] == "100.00"


def test_active_in_network_beside_a_refusal_out_is_covered_in_network() -> None:
    result = resolve(patient(*ACTIVE_IN_REFUSED_OUT), "99213", allowed="100", network="in")
    assert result["status"] == "covered"
    assert any("not covered out of network" in note for note in result["notes"])
    assert result["estimate"]["patient_pays"] == "10.00"


def test_an_active_row_for_the_refused_network_keeps_it_covered() -> None:
    rows = (*ACTIVE_IN_REFUSED_OUT, eb("1", "IND", "98", net="N"))
    result = resolve(patient(*rows), "99213", network="out")
    assert result["status"] == "covered"
    assert any("not covered out of network" in note for note in result["notes"])


@pytest.mark.parametrize("net", [None, "W"])
def test_refused_in_every_network_is_not_covered_for_any_provider(net: str | None) -> None:
    rows = (*HMO[:3], eb("I", None, "98", net=net))
    assert resolve(patient(*rows), "99213", network="in")["status"] == "not_covered"


def test_refused_at_procedure_level_out_of_network_only() -> None:
    rows = (*HMO[:3], eb("I", None, "98", net="N", proc="HC:99213"))
    assert resolve(patient(*rows), "99213", network="in")["status"] == "covered"
    assert resolve(patient(*rows), "99213", network="out")["status"] == "not_covered"


# An allowed amount with fractions of a cent (possible only through the Python API) made the
# patient pay more than the allowed amount and the plan a negative amount (0.005 -> 0.01/-0.01).
@pytest.mark.parametrize("allowed", ["0.005", "100.005", "0.001"])
def test_allowed_amount_below_a_cent_gives_no_figures(allowed: str) -> None:
    rows = (eb("C", "IND", "30", period="29", amount="100", net="Y"), HALF)
    estimate = _estimate(*rows, allowed=allowed)
    assert estimate["patient_pays"] is None and estimate["plan_pays"] is None
    assert any("two decimals" in m for m in estimate["missing"])


def test_trailing_zeros_past_the_cents_are_still_cents() -> None:
    rows = (eb("C", "IND", "30", period="29", amount="0", net="Y"), HALF)
    assert _estimate(*rows, allowed="100.000")["patient_pays"] == "50.00"


# Codes in lower case (EB01 `b`, EB02 `ind`, EB11/EB12 `y`) were ignored: the copay and the
# deductible vanished, `ind` counted as family, and EB11 `y` read as "not required".
LOWER = (
    eb("1", "IND", "30"),
    eb("c", "ind", "30", period="29", amount="0", net="y"),
    eb("b", "ind", "98", period="27", amount="10", net="y"),
    eb("g", "ind", "30", period="29", amount="5", net="y"),
    eb("1", None, "98", auth="y", net="y"),
)


def test_lower_case_codes_read_as_upper_case() -> None:
    result = resolve(patient(*LOWER), "99213", allowed="100", network="in")
    bucket = result["networks"]["in"]
    assert [c["amount"] for c in bucket["copay"]] == ["10.00"]
    assert bucket["deductible"]["individual"]["remaining"] == "0.00"
    assert bucket["authorization_required"]["required"] == "Y"
    assert result["estimate"]["patient_pays"] == "5.00"


@pytest.mark.parametrize(
    ("flags", "required"),
    [(("X",), "U"), (("N", "X"), "U"), (("N", "n"), "N"), (("y", "N"), "Y"), (("u",), "U")],
)
def test_authorization_flag_outside_y_n_u_is_unknown_not_no(
    flags: tuple[str, ...], required: str
) -> None:
    rows = [eb("1", "IND", "30")] + [eb("1", None, "98", auth=flag, net="Y") for flag in flags]
    bucket = resolve(patient(*rows), "99213")["networks"]["in"]
    assert bucket["authorization_required"]["required"] == required


# A network other than in, out or unknown (`IN`, `yes`, None) was read as unknown, silently.
@pytest.mark.parametrize("network", ["IN", "yes", None, ""])
def test_a_network_name_outside_in_out_unknown_is_a_value_error(network: Any) -> None:
    p = patient(NO_DEDUCTIBLE, HALF)
    with pytest.raises(ValueError, match="network"):
        resolve_procedures(p, [ProcedureRequest("99213")], network=network, crosswalk=crosswalk)
    (result,) = resolve_procedures(p, [ProcedureRequest("99213")], crosswalk=crosswalk)
    with pytest.raises(ValueError, match="network"):
        estimate_patient_share(result, Decimal("100"), network)


# A single string where a sequence is expected (`modifiers="GP"`, `service_types="98"`) was
# split into characters (G, P; 9, 8) and silently matched nothing.
@pytest.mark.parametrize(
    "request_",
    [
        ProcedureRequest("97110", modifiers="GP"),  # type: ignore[arg-type]
        ProcedureRequest("99213", service_types="98"),  # type: ignore[arg-type]
    ],
    ids=["modifiers", "service_types"],
)
def test_a_string_for_a_sequence_is_a_type_error(request_: ProcedureRequest) -> None:
    with pytest.raises(TypeError, match="modifiers|service_types"):
        resolve_procedures(patient(eb("1", "IND", "30")), [request_])


def test_lists_are_accepted_for_sequences() -> None:
    row = eb("B", "IND", "PT", period="27", amount="25", net="Y", proc="HC:97110:GP")
    requests = [
        ProcedureRequest("97110", modifiers=["GP"]),  # type: ignore[arg-type]
        ProcedureRequest(
            "97110",
            modifiers=("GP",),
            service_types=["PT"],  # type: ignore[arg-type]
        ),
    ]
    results = resolve_procedures(patient(eb("1", "IND", "30"), row), requests)
    assert [r.match for r in results] == ["procedure", "procedure"]


# The same HMO answer for a provider of unknown network (a schedule row without
# provider_network): not_covered charged the whole allowed amount, a guess either way. Now the
# service is covered with the note, and the estimate names the network as what is missing.
def test_refused_in_one_network_with_the_provider_network_unknown() -> None:
    result = resolve(patient(*HMO), "99213", allowed="100", network="unknown")
    assert result["status"] == "covered"
    assert any("not covered out of network" in note for note in result["notes"])
    estimate = result["estimate"]
    assert estimate["patient_pays"] is None
    assert any("network" in m for m in estimate["missing"])


def test_partial_refusal_with_the_provider_network_unknown_gives_no_figure() -> None:
    rows = (
        eb("1", "IND", "30"),
        eb("C", "IND", "30", period="29", amount="0"),
        eb("B", "IND", "98", period="27", amount="10"),
        eb("1", None, "98"),
        eb("I", None, "98", net="N"),
    )
    estimate = resolve(patient(*rows), "99213", allowed="100", network="unknown")["estimate"]
    assert estimate["patient_pays"] is None
    assert any("network" in m for m in estimate["missing"])
    # A known network still gives the figure from the rows of no network.
    known = resolve(patient(*rows), "99213", allowed="100", network="in")["estimate"]
    assert known["patient_pays"] == "10.00"
