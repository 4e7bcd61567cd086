"""The demo's table lines, from per-CPT result dicts and from batch report rows."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from cptverify_local.stack.view import (
    BatchProgress,
    DemoLine,
    Summary,
    columns_for_width,
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


def _wide_lines() -> list[DemoLine]:
    reason = (
        "not covered out of network (per the procedure row); the payer sent no out-of-network "
        "figures; no estimate: missing deductible remaining, copay or coinsurance [see notes]"
    )
    return [
        DemoLine(
            appointment_id=f"APT-{n}",
            claim_id=f"CLM-LONG-CLAIM-{n}",
            payer_id="PLAINVIEW",
            code="97110:GP:59",
            status="not_covered",
            match="service_type",
            network="unspecified",
            copay="150.00",
            coinsurance="20%",
            deductible_remaining="1500.00",
            oop_remaining="12000.00",
            authorization="not required",
            patient_share="650.00",
            reason=reason,
        )
        for n in range(3)
    ]


def _render(table: Any, width: int) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


@pytest.mark.parametrize("width", [80, 100, 120, 160])
def test_the_table_fits_the_terminal_and_loses_no_word(width: int) -> None:
    lines = _wide_lines()

    text = _render(results_table(lines, width=width), width)

    rows = text.splitlines()
    assert max(len(r.rstrip()) for r in rows) <= width
    # Every word of the reason is on screen (folded, never cropped) and the essentials stay.
    words = " ".join(rows).split()
    for word in lines[0].reason.split():
        assert word in words, word
    header = rows[1]
    for name in ("Appointment", "CPT", "Status", "Copay", "Reason"):
        assert name in header


def test_a_narrow_table_names_the_columns_it_leaves_out() -> None:
    lines = _wide_lines()

    narrow = _render(results_table(lines, width=100), 100)
    wide = _render(results_table(lines, width=260), 260)

    assert "not shown at 100 columns: Claim" in " ".join(narrow.split())
    assert "Match" not in narrow.splitlines()[1] and "service_type" not in narrow
    assert "not shown" not in wide and "service_type" in wide
    assert columns_for_width(lines, None) == columns_for_width(lines, 260)
    assert columns_for_width(lines, 100)[-1] == "Reason"


def test_summary_lists_ignored_columns_only_when_there_are_some() -> None:
    none = _render(summary_table(Summary(1, 0, 1, 1, 0, 0.5)), 100)
    some = _render(
        summary_table(Summary(1, 0, 1, 1, 0, 0.5, ignored_columns=("Notes", "[SSN]"))), 100
    )

    assert "ignored columns" not in none
    assert "ignored columns" in some and "Notes, [SSN]" in some
