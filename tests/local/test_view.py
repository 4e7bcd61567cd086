"""The demo's table lines, from per-CPT result dicts and from batch report rows."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from cptverify_local.stack.view import (
    BatchProgress,
    DemoLine,
    Summary,
    line_from_report_row,
    line_from_result,
    results_table,
    summary_table,
    watch_batch,
)

RESULT: dict[str, Any] = {
    "code": "97110",
    "qualifier": "HC",
    "modifiers": ["GP"],
    "status": "covered",
    "match": "service_type",
    "service_types": ["AE"],
    "payer_calls": 1,
    "networks": {
        "in": {
            "copay": [{"amount": "25.00", "source": "service_type"}],
            "coinsurance": [{"percent": "0.2", "source": "plan"}],
            "deductible": {
                "individual": {"total": "500.00", "remaining": "120.00", "source": "plan"},
                "family": None,
            },
            "out_of_pocket": {"individual": None, "family": {"remaining": "4000.00"}},
            "limits": [],
            "authorization_required": {"required": "Y", "source": "procedure", "messages": []},
            "messages": [],
        },
        "out": {"copay": [{"amount": "60.00"}]},
        "both": None,
        "unspecified": None,
    },
    "rejections": [],
    "estimate": {"allowed_amount": "95.00", "network": "in", "patient_pays": "95.00"},
    "notes": [],
}


def test_line_from_result_reads_the_estimate_network() -> None:
    line = line_from_result(RESULT, appointment_id="A1", claim_id="C1", payer_id="P1")

    assert line == DemoLine(
        appointment_id="A1",
        claim_id="C1",
        payer_id="P1",
        code="97110:GP",
        status="covered",
        match="service_type",
        network="in",
        copay="25.00",
        coinsurance="20%",
        deductible_remaining="120.00",
        oop_remaining="4000.00 fam",
        authorization="required",
        patient_share="95.00",
        reason="",
    )


def test_line_from_result_uses_the_provider_network_without_estimate() -> None:
    result = {**RESULT, "estimate": None}

    line = line_from_result(
        result, appointment_id="A1", claim_id="C1", payer_id="P1", provider_network="out"
    )

    assert (line.network, line.copay, line.patient_share) == ("out", "60.00", "-")


def test_rejection_reason_names_the_aaa() -> None:
    result = {
        "code": "99213",
        "status": "rejected",
        "networks": {},
        "rejections": [{"loop": "2100C", "code": "75", "description": "subscriber not found"}],
    }

    line = line_from_result(result, appointment_id="A", claim_id="C", payer_id="P")

    assert line.status == "rejected"
    assert line.reason == "AAA 75: subscriber not found"


def test_line_from_report_row() -> None:
    row = {
        "appointment_id": "A9",
        "claim_id": "C9",
        "payer_id": "P3",
        "cpt": "99213",
        "modifiers": "25",
        "status": "failed",
        "reason": "PayerUnavailable after 4 attempts",
    }

    line = line_from_report_row(row)

    assert (line.code, line.status, line.reason, line.copay) == (
        "99213:25",
        "failed",
        "PayerUnavailable after 4 attempts",
        "-",
    )


def test_tables_render() -> None:
    console = Console(width=200, record=True)
    line = line_from_result(RESULT, appointment_id="A1", claim_id="C1", payer_id="P1")

    console.print(results_table([line]))
    console.print(summary_table(Summary(3, 2, 2, 1, 1, 4.2, completed=2)))

    text = console.export_text()
    assert "97110:GP" in text and "120.00" in text and "payer calls" in text


def test_watch_batch_stops_when_done() -> None:
    states = iter(
        [BatchProgress(3, 0, False), BatchProgress(3, 2, False), BatchProgress(3, 3, True)]
    )

    final = watch_batch(lambda: next(states), Console(quiet=True), timeout_s=5, interval_s=0)

    assert final == BatchProgress(3, 3, True)


def test_line_from_result_puts_the_notes_in_the_reason() -> None:
    result = {
        **RESULT,
        "networks": {**RESULT["networks"], "out": None},
        "estimate": {"network": "out", "patient_pays": None, "missing": ["copay or coinsurance"]},
        "notes": ["not covered out of network (per the procedure row)"],
    }

    line = line_from_result(
        result, appointment_id="A1", claim_id="C1", payer_id="P1", provider_network="out"
    )

    assert line.status == "covered"
    assert line.reason.startswith("not covered out of network (per the procedure row)")
    assert "no estimate: missing copay or coinsurance" in line.reason
