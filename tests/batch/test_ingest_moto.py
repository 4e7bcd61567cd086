"""Ingest under moto: the handler on real S3 notification shapes, redelivery, the finished batch
with its report, freshness on a repeat upload, and no patient data in any log line."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3

from cptverify.aws import archive, keys, store
from cptverify.schedules import progress
from cptverify.service import steps
from tests.batch.conftest import BUCKET, BUS, FIXTURES, TENANT
from tests.batch.schedule_data import CANARIES, mixed_schedule, row, schedule

ROOT = Path(__file__).resolve().parents[2]


def load_handler() -> Any:
    path = ROOT / "functions" / "schedule_ingest" / "app.py"
    spec = importlib.util.spec_from_file_location("schedule_ingest_app", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


@dataclass
class Context:
    function_name: str = "ScheduleIngestFunction"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:ingest"
    aws_request_id: str = "req-1"


def moto_event(key: str, data: bytes) -> dict[str, Any]:
    """Upload through a bucket notification to SQS and return the event moto itself sent."""
    s3 = boto3.client("s3")
    sqs = boto3.client("sqs")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    queue = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    for _ in range(20):
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            body = json.loads(message["Body"])
            records = body.get("Records") or [{}]
            if unquote_plus(records[0].get("s3", {}).get("object", {}).get("key", "")) == key:
                return dict(body)
    raise AssertionError("moto sent no notification")


def aws_event(key: str, data: bytes) -> dict[str, Any]:
    """The notification as AWS sends it (`events/schedule_ingest/s3_put.json`) for `key`."""
    put = boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=data)
    event = json.loads((ROOT / "events" / "schedule_ingest" / "s3_put.json").read_text())
    record = event["Records"][0]["s3"]
    record["bucket"]["name"] = BUCKET
    record["object"].update(key=key.replace(" ", "+"), eTag=put["ETag"].strip('"'), size=len(data))
    if put.get("VersionId"):
        record["object"]["versionId"] = put["VersionId"]
    else:  # an unversioned bucket: AWS names no version
        del record["object"]["versionId"]
    return dict(event)


def bridge_event(key: str, data: bytes) -> dict[str, Any]:
    """S3's EventBridge `Object Created` (`events/schedule_ingest/...object_created.json`)."""
    put = boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=data)
    path = ROOT / "events" / "schedule_ingest" / "eventbridge_object_created.json"
    event = json.loads(path.read_text())
    event["detail"]["bucket"]["name"] = BUCKET
    event["detail"]["object"].update(key=key, etag=put["ETag"].strip('"'), size=len(data))
    if put.get("VersionId"):
        event["detail"]["object"]["version-id"] = put["VersionId"]
    else:
        event["detail"]["object"].pop("version-id", None)
    return dict(event)


def executions() -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions")
    arn = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    return [dict(e) for e in sfn.list_executions(stateMachineArn=arn)["executions"]]


def run_started_inquiries(fail: set[str] | None = None) -> None:
    """Do what the state machine does for each started execution, with a canned 271."""
    answer = (FIXTURES / "271-active-copay.x12").read_text()
    for execution in executions():
        inquiry_id = execution["name"]
        item = store.get_inquiry(TENANT, inquiry_id)
        assert item is not None
        if item["status"] != "PENDING":
            continue
        if fail and inquiry_id in fail:
            steps.record_failure(TENANT, inquiry_id, "PayerUnavailable")
        else:
            key = archive.exchange_key(TENANT, inquiry_id, 1, 0, "271")
            archive.put_text(key, answer)
            count = len(item["procedures"])
            responses = [{"key": key, "procedure_indexes": list(range(count))}]
            store.update_open(TENANT, inquiry_id, {"responses": responses}, {"payer_calls": 1})
            steps.parse_and_record(TENANT, inquiry_id)
        steps.announce(TENANT, inquiry_id)


def s3_text(key: str) -> str:
    return str(boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read().decode())


def test_mixed_schedule_moto_shape(aws: dict[str, str], all_logs: Any) -> None:
    handler = load_handler()
    event = moto_event(f"schedules/{TENANT}/tomorrow.csv", mixed_schedule())
    assert "userIdentity" not in event["Records"][0]

    out = handler(event, Context())

    [summary] = out["batches"]
    assert summary["rows"] == 16
    assert (summary["bad_rows"], summary["duplicates"]) == (11, 1)
    assert (summary["inquiries"], summary["started"], summary["reused"]) == (3, 3, 0)
    assert len(executions()) == 3
    batch = progress.get_batch(TENANT, summary["batch_id"])
    assert batch is not None and batch["status"] == "RUNNING"
    errors = list(csv.DictReader(io.StringIO(s3_text(batch["error_report"]))))
    assert {int(e["row"]) for e in errors} == {4, *range(7, 18)}
    assert {e["appointment_id"] for e in errors} >= {"B1", "B11", "A1"}
    lines = list(progress.batch_lines(TENANT, summary["batch_id"]))
    # nothing lost: every row is a verified line, a duplicate or an error-report row
    assert {ln.row for ln in lines} | {int(e["row"]) for e in errors} == set(range(2, 18))
    assert [(ln.claim_id, ln.line, ln.code) for ln in lines if ln.appointment_id == "A1"] == [
        ("A1", 1, "99213"),
        ("A1", 2, "97110"),
    ]
    logs = all_logs()
    assert "schedule ingest finished" in logs
    for canary in CANARIES:
        assert canary not in logs
        assert canary not in json.dumps(out)
        assert canary not in s3_text(batch["error_report"])


def test_redelivery_starts_nothing_twice(aws: dict[str, str]) -> None:
    handler = load_handler()
    event = moto_event(f"schedules/{TENANT}/again.csv", schedule(row("A1"), row("A2", npi="")))

    first = handler(event, Context())["batches"][0]
    second = handler(event, Context())["batches"][0]

    assert first["status"] == "RUNNING" and first["started"] == 1
    assert second["status"] == "DUPLICATE" and second["started"] == 0
    assert second["batch_id"] == first["batch_id"]
    assert len(executions()) == 1


def test_aws_and_eventbridge_shapes_and_foreign_keys(aws: dict[str, str]) -> None:
    handler = load_handler()
    data = schedule(row("A1"))
    a = handler(aws_event(f"schedules/{TENANT}/day one.csv", data), Context())["batches"]
    b = handler(bridge_event(f"schedules/{TENANT}/day-two.csv", data), Context())["batches"]
    c = handler(aws_event("elsewhere/file.csv", data), Context())["batches"]
    assert a[0]["inquiries"] == 1 and b[0]["inquiries"] == 1 and c == []
    batch = progress.get_batch(TENANT, a[0]["batch_id"])
    assert batch is not None and batch["source_key"] == f"schedules/{TENANT}/day one.csv"


def _capture_batch_events() -> str:
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="batch-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = boto3.client("events")
    events.put_rule(
        Name="batch-done",
        EventBusName=BUS,
        EventPattern=json.dumps({"detail-type": [progress.BATCH_COMPLETED]}),
    )
    events.put_targets(Rule="batch-done", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn}])
    return str(queue)


def test_batch_finishes_with_one_report_matching_the_table(
    aws: dict[str, str], all_logs: Any
) -> None:
    handler = load_handler()
    queue = _capture_batch_events()
    summary = handler(moto_event(f"schedules/{TENANT}/t.csv", mixed_schedule()), Context())[
        "batches"
    ][0]
    failing = {e["name"] for e in executions() if e["name"].endswith("-00003")}

    run_started_inquiries(fail=failing)

    view = progress.batch_view(TENANT, summary["batch_id"])
    assert view is not None and view["status"] == "DONE"
    assert view["progress"] == {"finished": 3, "total": 3}
    assert view["counts"]["completed"] == 2 and view["counts"]["failed"] == 1
    report = list(csv.DictReader(io.StringIO(s3_text(view["reports"]["csv"]["key"]))))
    document = json.loads(s3_text(view["reports"]["json"]["key"]))
    assert len(report) == len(document["lines"]) == 5
    for line in report:
        if line["appointment_id"] == "A4":
            assert line["status"] == "failed" and "payer" in line["reason"]
            continue
        stored = store.claim_results(TENANT, line["claim_id"], line["code"])
        [match] = [s for s in stored if s["line"] == int(line["line"])]
        assert line["status"] == match["status"] == "covered"
        if line["code"] == "99213":
            assert (line["copay"], line["deductible_remaining"]) == ("25.00", "250.00")
            assert line["estimate"] == ((match["estimate"] or {}).get("patient_pays") or "")
            if line["claim_id"] == "A1":
                assert line["estimate"] == "120.00"  # all of it goes to the deductible left
    messages = boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    assert [b["detail"]["batch_id"] for b in bodies] == [summary["batch_id"]]
    # a late duplicate announce neither counts twice nor writes a second report
    first = executions()[0]["name"]
    steps.announce(TENANT, first)
    again = progress.get_batch(TENANT, summary["batch_id"])
    assert again is not None and int(again["completed"]) == 2
    logs = all_logs()
    for canary in CANARIES:
        assert canary not in logs
        assert canary not in json.dumps(document["lines"])


def test_repeat_upload_within_window_reuses_the_archive(aws: dict[str, str]) -> None:
    handler = load_handler()
    rows = [row("A1", procedures="99213"), row("A2", claim="C2", procedures="97110:GP")]
    first = handler(moto_event(f"schedules/{TENANT}/d1.csv", schedule(*rows)), Context())
    run_started_inquiries()
    first_id = first["batches"][0]["batch_id"]
    first_report = progress.batch_view(TENANT, first_id)
    assert first_report is not None and first_report["status"] == "DONE"
    started = len(executions())

    again = [*rows, row("A9", claim="C9", procedures="70551")]
    second = handler(moto_event(f"schedules/{TENANT}/d2.csv", schedule(*again)), Context())

    summary = second["batches"][0]
    assert summary["reused"] == summary["inquiries"] == 1
    assert summary["started"] == 0 and len(executions()) == started
    assert summary["status"] == "DONE"
    view = progress.batch_view(TENANT, summary["batch_id"])
    assert view is not None
    old = {
        (r["claim_id"], r["code"]): r
        for r in csv.DictReader(io.StringIO(s3_text(first_report["reports"]["csv"]["key"])))
    }
    new = {
        (r["claim_id"], r["code"]): r
        for r in csv.DictReader(io.StringIO(s3_text(view["reports"]["csv"]["key"])))
    }
    for key, line in old.items():
        assert {k: v for k, v in new[key].items() if k != "row"} == {
            k: v for k, v in line.items() if k != "row"
        }
    assert new[("C9", "70551")]["status"] == "covered"
    item = store.get_inquiry(TENANT, f"{summary['batch_id']}-00001")
    assert item is not None and item["reused_from"] and item.get("payer_calls", 0) == 0
    assert keys.batch_pk(TENANT, summary["batch_id"]).startswith("TENANT#")


def test_unreadable_files_end_done_with_an_error_report(aws: dict[str, str]) -> None:
    handler = load_handler()
    no_procedures = b"appointment_id,date_of_service,payer_id\r\nA1,2026-01-01,ACME01\r\n"
    huge = (
        schedule(row("A1"), row("A2", claim="C2"))
        + b'A3,"'
        + b"x" * 140_000
        + b'"\r\n'
        + row("A4", claim="C4", member="CANARYMEMBER456").encode()
        + b"\r\n"
    )

    first = handler(aws_event(f"schedules/{TENANT}/columns.csv", no_procedures), Context())
    second = handler(aws_event(f"schedules/{TENANT}/huge.csv", huge), Context())

    missing = first["batches"][0]
    assert (missing["inquiries"], missing["status"]) == (0, "DONE")
    view = progress.batch_view(TENANT, missing["batch_id"])
    assert view is not None and view["status"] == "DONE"
    [problem] = list(csv.DictReader(io.StringIO(s3_text(view["reports"]["errors"]["key"]))))
    assert (problem["row"], problem["column"]) == ("1", "member_id")
    assert "required column missing" in problem["reason"]
    # The unreadable record is reported and the row after it is still read.
    went_on = second["batches"][0]
    assert went_on["inquiries"] == 2 and went_on["bad_rows"] == 1
    batch = progress.get_batch(TENANT, went_on["batch_id"])
    assert batch is not None
    errors = list(csv.DictReader(io.StringIO(s3_text(batch["error_report"]))))
    assert [(e["row"], e["column"]) for e in errors] == [("4", "row")]
    assert "not readable as CSV" in errors[0]["reason"]


def test_report_says_the_network_is_unknown_without_a_provider_network_column(
    aws: dict[str, str],
) -> None:
    table = list(csv.reader(io.StringIO(schedule(row("N1", amounts="120.00")).decode())))
    drop = table[0].index("provider_network")
    text = "\n".join(",".join(c for i, c in enumerate(r) if i != drop) for r in table) + "\n"
    handler = load_handler()
    summary = handler(moto_event(f"schedules/{TENANT}/nonet.csv", text.encode()), Context())[
        "batches"
    ][0]

    run_started_inquiries()

    view = progress.batch_view(TENANT, summary["batch_id"])
    assert view is not None and view["status"] == "DONE"
    [line] = list(csv.DictReader(io.StringIO(s3_text(view["reports"]["csv"]["key"]))))
    assert line["status"] == "covered"
    assert "the provider's network is unknown" in line["reason"]
    for canary in CANARIES:
        assert canary not in line["reason"]
