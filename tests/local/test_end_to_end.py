"""End to end through the embedded stack: a schedule in, results by claim and CPT out.

The template's resources in moto, the real state machine, our handlers, the payer simulator over
loopback. The plan book is the default one plus canary members (see conftest), so every check of
a stored value is a check against the plan book, and every log line is searched for the canaries.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from cptverify.aws import store
from cptverify.schedules.report import read_report_csv
from cptverify_local.simulator.planbook import PlanBook
from cptverify_local.stack.api import build_local_api
from cptverify_local.stack.embedded import LocalStack, UploadedSchedule
from cptverify_local.stack.http_api import LocalApiServer
from tests.local.conftest import CANARIES, DOS, DOWN_PAYER, LogCapture

pytestmark = pytest.mark.slow

NPI = "1234567893"
HEADER = (
    "appointment_id,claim_id,date_of_service,payer_id,member_id,patient_first_name,"
    "patient_last_name,patient_birth_date,patient_gender,provider_npi,provider_network,"
    "procedures,allowed_amounts"
)


def row(
    appointment: str,
    payer: str,
    procedures: str,
    *,
    claim: str = "",
    member: str = "CANARYMEMBER123",
    birth: str = "1901-02-03",
    npi: str = NPI,
    dos: str = DOS,
    amounts: str = "",
) -> str:
    cells = [appointment, claim, dos, payer, member, "CANARYFIRST", "CANARYLAST", birth, "F"]
    cells += [npi, "in", procedures, amounts]
    return ",".join(f'"{c}"' if ";" in c else c for c in cells)


SCHEDULE = "\n".join(
    [
        HEADER,
        row("A1", "ACME", "99213;97110:GP", claim="C1", amounts="120.00;95.00"),  # row 2
        row("A2", "ACME", "70551", claim="C2"),  # row 3: same visit, same inquiry
        row("A3", "FLAKY", "99213", claim="C3"),  # row 4: down for its first requests
        row("A4", DOWN_PAYER, "99213", claim="C4"),  # row 5: stays down
        row("A5", "ACME", "99213", claim="C5", member="CANARYMEMBER999"),  # row 6: unknown
        row("B1", "ACME", "99213", npi="1234567890"),  # row 7: NPI check digit
        row("B2", "ACME", ""),  # row 8: no procedures
        row("B3", "ACME", "99213", birth="not-a-date"),  # row 9: birth date
    ]
).encode()


def ingest_ready(stack: LocalStack) -> None:
    if stack.ingest_function() is None:
        pytest.skip("template.yaml declares no function with an S3 event (schedule ingest)")


@pytest.fixture(scope="module")
def batch(local_stack: LocalStack) -> tuple[UploadedSchedule, dict[str, Any]]:
    ingest_ready(local_stack)
    uploaded = local_stack.upload_schedule("day-1.csv", SCHEDULE)
    item = local_stack.wait_batch(uploaded.batch_id, timeout_s=60)
    assert item is not None and item["status"] == "DONE", item
    return uploaded, item


def results(stack: LocalStack, claim: str) -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in store.claim_results(stack.tenant, claim)}


def inquiry_for(stack: LocalStack, claim: str) -> dict[str, Any]:
    table = stack.aws.session.resource("dynamodb").Table(stack.aws.table_name)
    items = [i for i in table.scan()["Items"] if i.get("sk") == "INQUIRY"]
    found = [i for i in items if i.get("claim_id") == claim]
    assert found, f"no inquiry for claim {claim}"
    return dict(found[-1])


def amount(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def test_batch_counts(batch: tuple[UploadedSchedule, dict[str, Any]]) -> None:
    _, item = batch

    assert int(item["rows"]) == 8
    assert int(item["bad_rows"]) == 3
    assert int(item["inquiries"]) == 4
    assert (int(item["completed"]), int(item["rejected"]), int(item["failed"])) == (2, 1, 1)


def test_stored_values_equal_the_plan_book(
    local_stack: LocalStack, batch: Any, book: PlanBook
) -> None:
    plan = book.payers["ACME"].plans["GOLD"]
    assert plan.deductible and plan.deductible.in_network and plan.out_of_pocket
    deductible = plan.deductible.in_network.individual
    oop = plan.out_of_pocket.in_network and plan.out_of_pocket.in_network.individual
    assert deductible and oop

    first = results(local_stack, "C1")
    second = results(local_stack, "C2")

    visit = first["99213"]["networks"]["in"]
    expected_copay = plan.procedures["99213"].in_network
    assert expected_copay and expected_copay.copay is not None
    assert first["99213"]["status"] == "covered"
    assert [amount(c["amount"]) for c in visit["copay"]] == [amount(expected_copay.copay)]
    assert amount(visit["deductible"]["individual"]["remaining"]) == amount(deductible.remaining)
    assert amount(visit["out_of_pocket"]["individual"]["remaining"]) == amount(oop.remaining)
    therapy = first["97110"]["networks"]["in"]
    expected_therapy = plan.procedures["97110"].in_network
    assert expected_therapy and expected_therapy.copay is not None
    assert [amount(c["amount"]) for c in therapy["copay"]] == [amount(expected_therapy.copay)]
    assert first["97110"]["modifiers"] == ["GP"]
    assert first["97110"]["estimate"]["allowed_amount"] == "95.00"
    imaging = second["70551"]
    assert plan.procedures["70551"].prior_auth is True
    flags = [
        bucket["authorization_required"]["required"]
        for bucket in imaging["networks"].values()
        if bucket and bucket.get("authorization_required")
    ]
    assert "Y" in flags


def test_error_report_lists_the_broken_rows(
    local_stack: LocalStack, batch: tuple[UploadedSchedule, dict[str, Any]]
) -> None:
    uploaded, _ = batch

    data = local_stack.get_object(f"results/{local_stack.tenant}/{uploaded.batch_id}/errors.csv")
    problems = read_report_csv(data)

    assert {(p["row"], p["appointment_id"]) for p in problems} == {
        ("7", "B1"),
        ("8", "B2"),
        ("9", "B3"),
    }
    assert {p["row"]: p["column"] for p in problems} == {
        "7": "provider_npi",
        "8": "procedures",
        "9": "patient_birth_date",
    }
    assert not any(c in data.decode() for c in CANARIES)


def test_transiently_failing_payer_completes(local_stack: LocalStack, batch: Any) -> None:
    inquiry = inquiry_for(local_stack, "C3")

    assert inquiry["status"] == "COMPLETED"
    assert int(inquiry["attempts"]) > 1
    flaky = local_stack.simulator.metrics()["payers"]["FLAKY"]
    assert flaky["faults"] and flaky["answers"] == 1
    assert results(local_stack, "C3")["99213"]["networks"]["in"]["copay"][0]["amount"] == "35.00"


def test_payer_that_stays_down_fails_with_its_reason(local_stack: LocalStack, batch: Any) -> None:
    inquiry = inquiry_for(local_stack, "C4")

    assert inquiry["status"] == "FAILED"
    assert (
        "PayerUnavailable" in str(inquiry.get("reason"))
        or "unavailable" in str(inquiry.get("reason")).lower()
    )
    assert local_stack.simulator.metrics()["payers"][DOWN_PAYER]["answers"] == 0


def test_unknown_member_is_rejected_with_aaa_75(local_stack: LocalStack, batch: Any) -> None:
    inquiry = inquiry_for(local_stack, "C5")

    assert inquiry["status"] == "REJECTED"
    assert "75" in json.dumps(inquiry.get("rejections"), default=str)


def test_batch_report_matches_the_table(
    local_stack: LocalStack, batch: tuple[UploadedSchedule, dict[str, Any]]
) -> None:
    uploaded, item = batch

    report = json.loads(local_stack.get_object(str(item["report_json"])))
    csv_lines = read_report_csv(local_stack.get_object(str(item["report_csv"])))
    lines = {(ln["claim_id"], ln["code"]): ln for ln in report["lines"]}

    assert len(csv_lines) == len(report["lines"]) == 6
    assert lines[("C1", "99213")]["status"] == "covered"
    assert (
        lines[("C1", "99213")]["copay"]
        == results(local_stack, "C1")["99213"]["networks"]["in"]["copay"][0]["amount"]
    )
    assert lines[("C2", "70551")]["authorization"] == "required"
    assert lines[("C4", "99213")]["status"] == "failed"
    assert lines[("C4", "99213")]["reason"]
    assert lines[("C5", "99213")]["status"] == "rejected"
    assert "75" in lines[("C5", "99213")]["reason"]
    assert not any(c in json.dumps(report) for c in CANARIES)


def test_repeat_upload_within_the_window_makes_no_payer_call(
    local_stack: LocalStack, batch: Any
) -> None:
    answered = b"\n".join(SCHEDULE.split(b"\n")[:4])  # header and the rows that completed
    before = local_stack.payer_calls()

    again = local_stack.upload_schedule("day-1-again.csv", answered)
    item = local_stack.wait_batch(again.batch_id, timeout_s=60)

    assert item is not None and item["status"] == "DONE"
    assert local_stack.payer_calls() == before
    report = json.loads(local_stack.get_object(str(item["report_json"])))
    again_lines = {(ln["claim_id"], ln["code"]): ln for ln in report["lines"]}
    assert again_lines[("C1", "99213")]["status"] == "covered"
    assert again_lines[("C1", "99213")]["copay"] == "25.00"
    assert again_lines[("C3", "99213")]["copay"] == "35.00"


def test_serve_answers_an_inquiry_over_http(local_stack: LocalStack) -> None:
    server = LocalApiServer(build_local_api(local_stack), port=0).start()
    inquiry = {
        "claim_id": "HTTP-1",
        "date_of_service": DOS,
        "payer": {"id": "ACME", "name": "ACME HEALTH PLAN"},
        "provider": {"npi": NPI, "organization_name": "LOCAL CLINIC", "network": "in"},
        "subscriber": {
            "member_id": "CANARYMEMBER123",
            "first_name": "CANARYFIRST",
            "last_name": "CANARYLAST",
            "birth_date": "1901-02-03",
        },
        "procedures": [{"code": "99213"}],
    }
    headers = {"x-api-key": local_stack.api_key}
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            refused = client.post("/v1/inquiries", json=inquiry)
            accepted = client.post("/v1/inquiries", json=inquiry, headers=headers)
            assert accepted.status_code == 202, accepted.text
            inquiry_id = accepted.json()["inquiry_id"]
            waited = client.post(
                "/v1/inquiries",
                json={**inquiry, "claim_id": "HTTP-2"},
                headers={**headers, "Prefer": "wait=20"},
            )
            local_stack.aws.wait_all()
            polled = client.get(f"/v1/inquiries/{inquiry_id}", headers=headers)
            procedures = client.get("/v1/claims/HTTP-1/procedures/99213", headers=headers)
    finally:
        server.stop()

    assert refused.status_code == 403
    assert accepted.status_code == 202
    assert waited.status_code == 200
    assert waited.json()["status"] == "COMPLETED"
    assert polled.status_code == 200 and polled.json()["status"] == "COMPLETED"
    assert procedures.status_code == 200
    assert "25.00" in procedures.text
    for response in (refused, accepted, waited, polled, procedures):
        assert not any(c in response.text for c in ("CANARYLAST", "CANARYFIRST", "19010203"))


def test_no_patient_data_in_any_log_line(
    local_stack: LocalStack, captured_logs: LogCapture
) -> None:
    local_stack.aws.wait_all()
    text = captured_logs.text()

    assert "inquiry" in text  # the capture saw the service's own lines
    leaked = [line for line in text.splitlines() if any(c in line for c in CANARIES)]
    assert leaked == []
