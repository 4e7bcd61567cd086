"""Benchmark `ingest`: a 10,000-row schedule through the ingest handler under moto.

A schedule of 10,000 rows is generated (8,000 visits, a fifth of them with a second appointment
row, one or two procedures per row, a few bad rows). The ingest handler reads it from the moto
bucket, validates, groups, writes line and inquiry items and the request bundle; starting
executions is replaced by a counter (no execution runs). Beside it, in the same process and
run, a baseline only streams the same CSV from S3 with the csv module and batch-writes as many
items as ingest wrote, each row's cells as attributes. Each side runs in a fresh moto account,
twice; the best time of each counts. Peak memory is traced (tracemalloc) over a third ingest
run. Goals: at most 3x the baseline's time and a traced peak of at most 128 MB.
"""

from __future__ import annotations

import csv
import gc
import importlib.util
import io
import json
import os
import random
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cptverify_local.harness.template import table_keys

ROOT = Path(__file__).resolve().parent.parent
ROWS = 10_000
VISITS = 8_000
GOAL_RATIO = 3.0
GOAL_MB = 128.0
TABLE, BUCKET, TENANT = "bench-table", "bench-archive", "bench"

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_LOG_LEVEL="WARNING",
    POWERTOOLS_METRICS_NAMESPACE="cptverify-bench",
    POWERTOOLS_METRICS_DISABLED="true",
    TABLE_NAME=TABLE,
    ARCHIVE_BUCKET=BUCKET,
    EVENT_BUS_NAME="default",
    CPTVERIFY_FRESHNESS_SECRET="bench-secret",
)

HEADER = [
    "appointment_id",
    "claim_id",
    "date_of_service",
    "payer_id",
    "member_id",
    "patient_first_name",
    "patient_last_name",
    "patient_birth_date",
    "patient_gender",
    "provider_npi",
    "provider_network",
    "procedures",
    "allowed_amounts",
]
NPIS = ["1234567893", "1000000004"]
# Every this many rows, an NPI with a wrong check digit (a bad row the error report lists).
BAD_NPI_EVERY = 997
# Payers of the bundled registry (a row naming another payer is a row error at ingest).
PAYERS = ["ACME", "BLUEPEAK", "PLAINVIEW", "SUMMIT", "SENTINEL"]
CODES = ["99213", "99214", "97110:GP", "70551", "36415", "99396"]


def letters(number: int) -> str:
    """A number spelt in letters (names carry no digits)."""
    out = ""
    while True:
        number, digit = divmod(number, 26)
        out += chr(ord("A") + digit)
        if not number:
            return out


def generate_schedule(rows: int = ROWS, visits: int = VISITS) -> bytes:
    """A seeded schedule: `visits` patient visits, the remaining rows second appointments."""
    rng = random.Random(7)
    today = datetime.now(UTC).date()
    dos = (today + timedelta(days=1) if today.day < 28 else today).isoformat()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for n in range(rows):
        visit = n if n < visits else rng.randrange(visits)
        codes = rng.sample(CODES, rng.choice((1, 1, 2)))
        amounts = ";".join(f"{rng.randint(40, 400)}.00" for _ in codes)
        birth = f"19{40 + visit % 60:02d}-{1 + visit % 12:02d}-{1 + visit % 28:02d}"
        npi = NPIS[visit % 2] if n % BAD_NPI_EVERY else "1234567890"  # a few bad check digits
        writer.writerow(
            [
                f"APT{n:06d}",
                "",
                dos,
                PAYERS[visit % len(PAYERS)],
                f"M{visit:08d}",
                "FIRST" + letters(visit),
                "LAST" + letters(visit * 7),
                birth,
                "FM"[visit % 2],
                npi,
                "in",
                ";".join(codes),
                amounts,
            ]
        )
    return ("\ufeff" + buffer.getvalue()).encode()


def _create(boto3: Any) -> None:
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        **table_keys(),
    )
    boto3.client("s3").create_bucket(Bucket=BUCKET)


@contextmanager
def fresh_account(schedule: bytes, key: str) -> Iterator[Any]:
    """A new moto account with the table and bucket, and the schedule uploaded."""
    import boto3
    from moto import mock_aws

    from cptverify.aws import clients

    with mock_aws():
        _create(boto3)
        boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=schedule)
        clients.reset()
        yield boto3
        clients.reset()


def load_handler() -> Any:
    path = ROOT / "functions" / "schedule_ingest" / "app.py"
    spec = importlib.util.spec_from_file_location("schedule_ingest_app", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


class Context:
    function_name = "ScheduleIngestFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ingest"
    aws_request_id = "bench"


def event(key: str, run: int) -> dict[str, Any]:
    obj = {"key": key, "eTag": f"bench{run}", "sequencer": f"{run:016d}"}
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": BUCKET}, "object": obj},
            }
        ]
    }


def run_ingest(schedule: bytes, run: int, trace: bool = False) -> tuple[float, dict[str, Any], int]:
    """One ingest in a fresh account: (seconds, summary, peak traced bytes or 0)."""
    from cptverify.schedules.adapters import AwsBatchPorts

    started: list[str] = []

    def count_only(self: AwsBatchPorts, tenant: str, inquiry_ids: list[str]) -> None:
        started.extend(inquiry_ids)

    AwsBatchPorts.start_executions = count_only  # type: ignore[method-assign]
    handler = load_handler()
    key = f"schedules/{TENANT}/day-{run}.csv"
    with fresh_account(schedule, key):
        gc.collect()
        if trace:
            tracemalloc.start()
        began = time.perf_counter()
        out = handler(event(key, run), Context())
        elapsed = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        if trace:
            tracemalloc.stop()
    summary = out["batches"][0]
    if summary["started"] != len(started):
        raise SystemExit("bench ingest: executions counted wrongly")
    expected_bad = len(range(0, ROWS, BAD_NPI_EVERY))
    if summary["bad_rows"] != expected_bad:
        # Rows refused for another reason than the planted NPIs would time the error path.
        raise SystemExit(
            f"bench ingest: {summary['bad_rows']} rows were refused, {expected_bad} planted"
        )
    return elapsed, summary, peak


def run_baseline(schedule: bytes, items: int, run: int) -> float:
    """Stream the same CSV from S3 and batch-write `items` items of the rows' cells."""
    key = f"schedules/{TENANT}/baseline-{run}.csv"
    with fresh_account(schedule, key) as boto3:
        gc.collect()
        began = time.perf_counter()
        body = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"]
        text = io.TextIOWrapper(body, encoding="utf-8-sig", newline="")
        rows: Iterator[dict[str, str]] = iter(csv.DictReader(text))
        written = 0
        with boto3.resource("dynamodb").Table(TABLE).batch_writer() as batch:
            while written < items:
                for number, row in enumerate(rows):
                    batch.put_item(Item={"pk": f"ROW#{number}", "sk": f"ITEM#{written}", **row})
                    written += 1
                    if written == items:
                        break
                else:
                    rows = iter([{"note": "padding"}] * (items - written))
        return time.perf_counter() - began


def main() -> None:
    schedule = generate_schedule()
    ours: list[float] = []
    base: list[float] = []
    summary: dict[str, Any] = {}
    for run in range(2):
        elapsed, summary, _ = run_ingest(schedule, run)
        ours.append(elapsed)
        items = summary["lines"] + summary["inquiries"] + 1
        base.append(run_baseline(schedule, items, run))
    _, _, peak = run_ingest(schedule, 9, trace=True)

    best, baseline = min(ours), min(base)
    ratio = best / baseline
    peak_mb = peak / 1_000_000
    print(
        json.dumps(
            {
                "rows": summary["rows"],
                "bad_rows": summary["bad_rows"],
                "inquiries": summary["inquiries"],
                "items_written": summary["lines"] + summary["inquiries"] + 1,
                "ingest_seconds": [round(t, 3) for t in ours],
                "baseline_seconds": [round(t, 3) for t in base],
            }
        )
    )
    print(f"ingest wall time {best:.2f} s, baseline {baseline:.2f} s (10,000 rows, moto)")
    met = ratio <= GOAL_RATIO and peak_mb <= GOAL_MB
    print(
        f"bench ingest: {ratio:.1f}x baseline, peak {peak_mb:.0f} MB "
        f"(goal <= {GOAL_RATIO:.0f}x, <= {GOAL_MB:.0f} MB) {'met' if met else 'missed'}"
    )


if __name__ == "__main__":
    main()
