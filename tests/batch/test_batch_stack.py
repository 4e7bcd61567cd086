"""End to end through the moto stack built from template.yaml: a schedule dropped in the bucket
is ingested by the S3-triggered function, each visit runs the real state machine against the
payer simulator, the last one writes the report, and `GET /v1/batches/{id}` shows it done."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cptverify_local.harness import AwsStack
from tests.batch.schedule_data import CANARIES, row, schedule

PLAN_BOOK = Path(__file__).resolve().parent.parent / "fixtures" / "aws" / "plan-book.yaml"
TENANT = "local"


class CountingConnector:
    """The simulator's real connector, counting the 270s sent."""

    def __init__(self) -> None:
        self.calls = 0
        self.real: dict[str, Any] = {}

    def connector_for(self, payer_id: str) -> Any:
        from cptverify.payers.connector import get_connector

        self.real.setdefault(payer_id, get_connector(payer_id))
        self.payer_id = payer_id
        return self

    def send(self, x12_270: str, *, expected_traces: list[str] | None = None) -> Any:
        self.calls += 1
        return self.real[self.payer_id].send(x12_270, expected_traces=expected_traces)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[AwsStack, CountingConnector]]:
    from cptverify.payers import connector, registry
    from cptverify.service import steps
    from cptverify_local.simulator import running_simulator

    if not PLAN_BOOK.exists():
        pytest.skip("the serverless tests' plan book is absent")
    environment = {"CPTVERIFY_FRESHNESS_SECRET": "stack-test-secret"}
    with AwsStack(environment=environment) as stack, running_simulator(PLAN_BOOK) as simulator:
        monkeypatch.setenv("CPTVERIFY_PAYER_BASE_URL", simulator.url)
        registry.load_registry.cache_clear()
        connector._connectors.clear()
        counting = CountingConnector()
        monkeypatch.setattr(steps, "_connector", counting.connector_for)
        try:
            yield stack, counting
        finally:
            stack.wait_all()
            for one in counting.real.values():
                one.close()
            connector._connectors.clear()
            registry.load_registry.cache_clear()


def upload(stack: AwsStack, name: str, data: bytes) -> str:
    """Put a schedule in the bucket (moto notifies the ingest function); its batch id."""
    s3 = stack.client("s3")
    s3.put_object(Bucket=stack.bucket_name, Key=f"schedules/{TENANT}/{name}", Body=data)
    stack.wait_all()
    runs = [i for i in stack.invocations if i.function == "ScheduleIngestFunction"]
    assert runs and runs[-1].error is None, runs[-1] if runs else "ingest never ran"
    return str(runs[-1].result["batches"][0]["batch_id"])


def get_batch(stack: AwsStack, batch_id: str) -> tuple[int, dict[str, Any]]:
    from tests.aws.conftest import api_event

    event = api_event("get_batch.json", path_parameters={"id": batch_id})
    response = stack.invoke("InquiryApiFunction", event)
    return int(response["statusCode"]), json.loads(response["body"])


def report_rows(stack: AwsStack, key: str) -> list[dict[str, str]]:
    body = stack.client("s3").get_object(Bucket=stack.bucket_name, Key=key)["Body"].read()
    return list(csv.DictReader(io.StringIO(body.decode())))


def test_schedule_upload_to_report_and_freshness(
    world: tuple[AwsStack, CountingConnector], capsys: pytest.CaptureFixture[str]
) -> None:
    stack, payer = world
    rows = [
        row("A1", payer="ACME", procedures="99213;97110:GP", amounts="120.00;"),
        row("A2", claim="C2", payer="ACME", procedures="99213"),
        row("A1", payer="ACME", procedures="99213;97110:GP", amounts="120.00;"),  # duplicate
        row("B1", payer="ACME", npi="1234567890"),  # bad check digit
    ]

    batch_id = upload(stack, "tomorrow.csv", schedule(*rows, crlf=True, bom=True))

    status, view = get_batch(stack, batch_id)
    assert status == 200 and view["status"] == "DONE"
    assert view["progress"] == {"finished": 1, "total": 1}
    assert view["counts"]["bad_rows"] == 1 and view["counts"]["duplicates"] == 1
    assert payer.calls == 1
    lines = report_rows(stack, view["reports"]["csv"]["key"])
    assert [(r["claim_id"], r["code"], r["status"], r["copay"]) for r in lines] == [
        ("A1", "99213", "covered", "25.00"),
        ("A1", "97110", "covered", "30.00"),
        ("C2", "99213", "covered", "25.00"),
    ]
    assert lines[0]["deductible_remaining"] == "400.00"
    errors = report_rows(stack, view["reports"]["errors"]["key"])
    assert [(e["row"], e["column"]) for e in errors] == [("4", "row"), ("5", "provider_npi")]

    again = upload(stack, "tomorrow-again.csv", schedule(*rows, row("A7", payer="ACME")))

    status, second = get_batch(stack, again)
    assert status == 200 and second["status"] == "DONE"
    assert second["counts"]["reused"] == 1 and payer.calls == 1
    lines_again = report_rows(stack, second["reports"]["csv"]["key"])
    assert [(r["claim_id"], r["code"], r["copay"]) for r in lines_again][:3] == [
        (r["claim_id"], r["code"], r["copay"]) for r in lines
    ]
    assert lines_again[-1]["claim_id"] == "A7" and lines_again[-1]["status"] == "covered"
    missing, _ = get_batch(stack, "b0123456789abcdef0123456")
    assert missing == 404
    out = capsys.readouterr()
    for canary in CANARIES:
        assert canary not in out.out + out.err
