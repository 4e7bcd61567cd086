"""Ingest against a hostile environment, under moto: an object re-uploaded while its first
version is still to be ingested, and a redo (takeover) whose reading plans differently from the
dead attempt's (a registry changed between attempts). Invariants: the batch holds the rows of
its own object version; every inquiry of the batch ends terminal, counted once; the report's
lines are the batch's lines and nothing else."""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from typing import Any

import boto3
import pytest

from cptverify.aws import keys
from cptverify.schedules import progress
from cptverify.schedules.adapters import AwsBatchPorts
from tests.batch.conftest import BUCKET, TABLE, TENANT
from tests.batch.schedule_data import CANARIES, row, schedule
from tests.batch.test_ingest_moto import Context, aws_event, load_handler, run_started_inquiries
from tests.batch.test_ingest_recovery import (
    STALE,
    Killed,
    batch_id_of,
    batch_item,
    kill_on_call,
    later,
    s3_text,
)


def batch_inquiries(batch_id: str) -> list[dict[str, Any]]:
    """Every inquiry item in the table that names the batch (a scan: tests only)."""
    table = boto3.resource("dynamodb").Table(TABLE)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        items += [
            i
            for i in page.get("Items", [])
            if i.get("sk") == keys.INQUIRY_SK and i.get("batch_id") == batch_id
        ]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_a_delivery_reads_its_own_object_version(aws: dict[str, str]) -> None:
    handler = load_handler()
    boto3.client("s3").put_bucket_versioning(
        Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"}
    )
    key = f"schedules/{TENANT}/reuploaded.csv"
    # GIVEN a schedule uploaded, then uploaded again (a new version) before its event is handled
    first = aws_event(key, schedule(row("A1")))
    second = aws_event(key, schedule(row("A1"), row("A2", claim="C2", procedures="99214")))
    assert batch_id_of(first) != batch_id_of(second)

    # WHEN the first version's event is handled after the second upload
    [one] = handler(first, Context())["batches"]
    [two] = handler(second, Context())["batches"]

    # THEN each batch holds the rows of its own version
    assert (one["rows"], one["lines"]) == (1, 1)
    assert (two["rows"], two["lines"]) == (2, 2)


def test_a_redo_that_plans_fewer_inquiries_leaves_no_orphans(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, all_logs: Any
) -> None:
    handler = load_handler()
    data = schedule(
        row("P1", claim="P1", payer="BLUEPEAK", member="CANARYMEMBER124"),
        row("A1", procedures="99213;97110:GP", amounts="120.00;95.00"),
        row("A3", claim="C3", member="CANARYMEMBER125", procedures="99214"),
    )
    event = aws_event(f"schedules/{TENANT}/registry-change.csv", data)
    batch_id = batch_id_of(event)
    # GIVEN an ingest killed after writing its lines and inquiries (three of each payer's rows)
    with monkeypatch.context() as patch:
        kill_on_call(patch, AwsBatchPorts, "update_batch", 1)
        with pytest.raises(Killed):
            handler(event, Context())
    assert len(batch_inquiries(batch_id)) == 3

    # WHEN the registry no longer lists BLUEPEAK by the time the batch is taken over
    def without_bluepeak(self: AwsBatchPorts) -> Collection[str]:
        return frozenset({"ACME", "PLAINVIEW", "SUMMIT"})

    monkeypatch.setattr(AwsBatchPorts, "known_payers", without_bluepeak)
    later(monkeypatch, STALE)
    [summary] = handler(event, Context())["batches"]
    run_started_inquiries()

    # THEN the refused row is an error-report row, not a report line, and no inquiry of the
    # first attempt is left open
    assert (summary["rows"], summary["bad_rows"], summary["inquiries"]) == (3, 1, 2)
    item = batch_item(batch_id)
    assert item["status"] == "DONE"
    lines = list(progress.batch_lines(TENANT, batch_id))
    assert len(lines) == int(item["lines"]) == 3
    assert {ln.appointment_id for ln in lines} == {"A1", "A3"}
    report = list(csv.DictReader(io.StringIO(s3_text(str(item["report_csv"])))))
    assert len(report) == 3
    assert {r["appointment_id"] for r in report} == {"A1", "A3"}
    open_ = [i for i in batch_inquiries(batch_id) if i["status"] in ("PENDING", "IN_PROGRESS")]
    assert open_ == []
    assert len(batch_inquiries(batch_id)) == 2
    for canary in CANARIES:
        assert canary not in all_logs()
