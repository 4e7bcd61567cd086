"""Ingest against a hostile environment, under moto: an object re-uploaded while its first
version is still to be ingested, and a redo (takeover) whose reading plans differently from the
dead attempt's (a registry changed between attempts). Invariants: the batch holds the rows of
its own object version; every inquiry of the batch ends terminal, counted once; the report's
lines are the batch's lines and nothing else."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection
from typing import Any

import boto3
import pytest

from cptverify.aws import clients, keys, store
from cptverify.aws import executions as sfn_starts
from cptverify.schedules import dynamo, ingest, progress
from cptverify.schedules.adapters import AwsBatchPorts
from cptverify.service import steps
from tests.batch.conftest import BUCKET, TABLE, TENANT
from tests.batch.schedule_data import CANARIES, row, schedule
from tests.batch.test_ingest_moto import (
    Context,
    _capture_batch_events,
    aws_event,
    executions,
    load_handler,
    run_started_inquiries,
)
from tests.batch.test_ingest_recovery import (
    STALE,
    Killed,
    assert_done_exactly_once,
    batch_id_of,
    batch_item,
    four_visits,
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
        kill_on_call(patch, AwsBatchPorts, "update_batch", 2)  # RUNNING
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


def kill_around(
    patch: pytest.MonkeyPatch, owner: Any, name: str, call: int, *, after: bool
) -> None:
    """Kill the invocation at the `call`-th call of `owner.name`, before or after it ran."""
    real = getattr(owner, name)
    calls = [0]

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] != call:
            return real(*args, **kwargs)
        if after:
            real(*args, **kwargs)
        raise Killed

    patch.setattr(owner, name, dying)


def deliver_until_over(event: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Deliver the event again, each time after the last claim ran out, until one ends."""
    handler = load_handler()
    for _ in range(4):
        later(monkeypatch, STALE)
        try:
            [summary] = handler(event, Context())["batches"]
        except ingest.IngestHandedOver:
            continue
        return dict(summary)
    raise AssertionError("the ingest never ended")


CRASH_POINTS = [
    (AwsBatchPorts, "create_batch", 1),
    (AwsBatchPorts, "known_payers", 1),
    (dynamo.BatchWriter, "_send", 1),
    (AwsBatchPorts, "put_object", 1),  # the error report
    (AwsBatchPorts, "put_object", 2),  # the requests archive
    (AwsBatchPorts, "fresh_answers", 1),
    (AwsBatchPorts, "update_batch", 1),  # the claim check before the inquiry writes
    (AwsBatchPorts, "update_batch", 2),  # RUNNING
    (sfn_starts, "start", 1),
    (sfn_starts, "start", 3),
    (AwsBatchPorts, "update_batch", 3),  # the checkpoint
    (AwsBatchPorts, "update_batch", 4),  # ingest_finished_at
    (progress, "finish_if_done", 1),
]


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
@pytest.mark.parametrize(
    ("owner", "name", "call"), CRASH_POINTS, ids=[f"{n}-{c}" for _, n, c in CRASH_POINTS]
)
def test_a_crash_at_any_step_ends_every_inquiry_once(
    aws: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    owner: Any,
    name: str,
    call: int,
    after: bool,
) -> None:
    handler = load_handler()
    event = aws_event(f"schedules/{TENANT}/crash-{name}-{call}-{after}.csv", four_visits())
    batch_id = batch_id_of(event)
    monkeypatch.setattr(ingest, "START_CHUNK", 1)
    monkeypatch.setattr(ingest, "CHECKPOINT_EVERY", 2)
    # GIVEN an invocation killed at this step
    with monkeypatch.context() as patch:
        kill_around(patch, owner, name, call, after=after)
        with pytest.raises(Killed):
            handler(event, Context())
    # ... whose started inquiries go on running meanwhile
    run_started_inquiries()

    # WHEN the event is delivered again until an ingest ends, and its inquiries run
    deliver_until_over(event, monkeypatch)
    run_started_inquiries()
    deliver_until_over(event, monkeypatch)

    # THEN every inquiry ended once, the batch is DONE with its report, and counts add up
    assert_done_exactly_once(batch_id, 4)
    item = batch_item(batch_id)
    assert (int(item["rows"]), int(item["bad_rows"]), int(item["lines"])) == (6, 1, 6)
    assert len(batch_inquiries(batch_id)) == 4


@pytest.mark.parametrize("body", [b"", schedule(row("B1", npi="1234567890"), row("B2", dos="x"))])
@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("call", [2, 3])
def test_a_batch_of_no_inquiries_ends_done_after_a_crash(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, body: bytes, after: bool, call: int
) -> None:
    handler = load_handler()
    event = aws_event(f"schedules/{TENANT}/nothing-{len(body)}-{after}-{call}.csv", body)
    batch_id = batch_id_of(event)
    # GIVEN an ingest of an empty or all-bad file killed around marking RUNNING or finishing
    with monkeypatch.context() as patch:
        kill_around(patch, AwsBatchPorts, "update_batch", call, after=after)
        with pytest.raises(Killed):
            handler(event, Context())

    # WHEN the event comes again
    deliver_until_over(event, monkeypatch)

    # THEN the batch is DONE with its (empty) report and its error report
    item = batch_item(batch_id)
    assert item["status"] == "DONE" and int(item["inquiries"]) == 0
    assert item.get("report_csv") and item.get("error_report")
    assert list(csv.DictReader(io.StringIO(s3_text(str(item["report_csv"]))))) == []


def completed_events(queue: str) -> list[str]:
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"])["detail"]["batch_id"] for m in messages]


def kill_batch_completed(patch: pytest.MonkeyPatch) -> None:
    """Kill the invocation as it puts BatchCompleted (after the batch was marked DONE)."""
    real = clients.events

    class Dying:
        def put_events(self, **kwargs: Any) -> Any:
            if "BatchCompleted" in json.dumps(kwargs):
                raise Killed
            return real().put_events(**kwargs)

    patch.setattr(clients, "events", Dying)


def test_batch_completed_is_put_after_a_crash_that_followed_done(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = load_handler()
    queue = _capture_batch_events()
    event = aws_event(f"schedules/{TENANT}/announce-crash.csv", schedule(row("A1")))
    batch_id = batch_id_of(event)
    handler(event, Context())
    [execution] = [e["name"] for e in executions() if e["name"].startswith(batch_id)]
    # GIVEN the last inquiry's announce step killed after it marked the batch DONE
    with monkeypatch.context() as patch:
        kill_batch_completed(patch)
        with pytest.raises(Killed):
            run_started_inquiries()
    assert batch_item(batch_id)["status"] == "DONE"
    assert completed_events(queue) == []

    # WHEN Step Functions retries that step
    steps.announce(TENANT, execution)

    # THEN BatchCompleted is put (once)
    assert completed_events(queue) == [batch_id]
    steps.announce(TENANT, execution)
    assert completed_events(queue) == []


def test_batch_completed_of_an_all_bad_file_is_put_by_the_redelivery(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = load_handler()
    queue = _capture_batch_events()
    event = aws_event(f"schedules/{TENANT}/all-bad.csv", schedule(row("B1", npi="1")))
    batch_id = batch_id_of(event)
    # GIVEN an ingest of no inquiries killed after it marked its batch DONE
    with monkeypatch.context() as patch:
        kill_batch_completed(patch)
        with pytest.raises(Killed):
            handler(event, Context())
    assert batch_item(batch_id)["status"] == "DONE"

    # WHEN Lambda delivers the event again
    [summary] = handler(event, Context())["batches"]

    # THEN that delivery puts BatchCompleted
    assert summary["status"] == "DUPLICATE"
    assert completed_events(queue) == [batch_id]


@pytest.mark.parametrize("killed_first", [False, True])
def test_a_deleted_object_version_still_ends_its_batch(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, killed_first: bool, all_logs: Any
) -> None:
    handler = load_handler()
    s3 = boto3.client("s3")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    key = f"schedules/{TENANT}/deleted-{killed_first}.csv"
    event = aws_event(key, four_visits())
    batch_id = batch_id_of(event)
    version = event["Records"][0]["s3"]["object"]["versionId"]
    # GIVEN an upload (maybe half-ingested by a killed invocation) whose version is then deleted
    if killed_first:
        with monkeypatch.context() as patch:
            kill_around(patch, AwsBatchPorts, "update_batch", 2, after=False)
            with pytest.raises(Killed):
                handler(event, Context())
    s3.delete_object(Bucket=BUCKET, Key=key, VersionId=version)

    # WHEN its event is delivered (again)
    summary = deliver_until_over(event, monkeypatch)

    # THEN the batch ends DONE, with an error report saying why nothing was verified
    item = batch_item(batch_id)
    assert summary["inquiries"] == 0 and item["status"] == "DONE"
    assert list(progress.batch_lines(TENANT, batch_id)) == []
    assert batch_inquiries(batch_id) == []
    [problem] = list(csv.DictReader(io.StringIO(s3_text(str(item["error_report"])))))
    assert "no longer exists" in problem["reason"]
    for canary in CANARIES:
        assert canary not in all_logs()


def test_a_takeover_under_clock_skew_never_rewinds_a_started_inquiry(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = load_handler()
    event = aws_event(f"schedules/{TENANT}/skew.csv", four_visits())
    batch_id = batch_id_of(event)
    real_save = AwsBatchPorts.save_requests
    calls = [0]

    # GIVEN a host whose clock runs ahead: it takes the batch over while the first invocation
    # is still reading, ingests it fully, and the inquiries run to their end
    def save_requests(self: AwsBatchPorts, upload: Any, planned: Any) -> None:
        calls[0] += 1
        if calls[0] == 1:
            with monkeypatch.context() as skewed:
                later(skewed, STALE)
                [summary] = handler(event, Context())["batches"]
            assert summary["attempt"] == 2
            run_started_inquiries()
        real_save(self, upload, planned)

    monkeypatch.setattr(AwsBatchPorts, "save_requests", save_requests)

    # WHEN the first invocation goes on writing its inquiries
    with pytest.raises(ingest.ClaimLost):
        handler(event, Context())

    # THEN it stops before rewriting any inquiry: each stays terminal and counted once
    assert_done_exactly_once(batch_id, 4)


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("name", ["parse_and_record", "announce"])
def test_a_crash_while_answering_from_fresh_results(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, name: str, after: bool
) -> None:
    handler = load_handler()
    # GIVEN a schedule verified once, so that a second upload of it reuses the fresh answers
    handler(aws_event(f"schedules/{TENANT}/fresh-1.csv", four_visits()), Context())
    run_started_inquiries()
    event = aws_event(f"schedules/{TENANT}/fresh-2-{name}-{after}.csv", four_visits())
    batch_id = batch_id_of(event)
    # ... whose ingest is killed while answering its second inquiry from the archive
    with monkeypatch.context() as patch:
        kill_around(patch, steps, name, 2, after=after)
        with pytest.raises(Killed):
            handler(event, Context())

    # WHEN the event comes again
    summary = deliver_until_over(event, monkeypatch)

    # THEN every inquiry is answered once, with no payer call, and the batch is DONE
    assert summary["started"] == 0
    assert_done_exactly_once(batch_id, 4)
    item = batch_item(batch_id)
    assert int(item["completed"]) == 4 and int(item["reused"]) == 4


def test_a_crash_between_recording_and_announcing_an_unstarted_inquiry(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    handler = load_handler()
    event = aws_event(f"schedules/{TENANT}/refused-start.csv", four_visits())
    batch_id = batch_id_of(event)
    real = sfn_starts.start

    def start(tenant: str, inquiry_id: str, mode: str) -> str:
        if inquiry_id.endswith("-00002"):
            raise ClientError({"Error": {"Code": "ServiceUnavailable"}}, "StartExecution")
        return real(tenant, inquiry_id, mode)

    monkeypatch.setattr(sfn_starts, "start", start)
    # GIVEN a start refused and the ingest killed after recording that inquiry FAILED
    with monkeypatch.context() as patch:
        kill_around(patch, steps, "announce", 1, after=False)
        with pytest.raises(Killed):
            handler(event, Context())
    second = store.get_inquiry(TENANT, f"{batch_id}-00002")
    assert second is not None and second["status"] == "FAILED"

    # WHEN the event comes again and the started inquiries run
    deliver_until_over(event, monkeypatch)
    run_started_inquiries()

    # THEN the failed inquiry is counted once and the batch ends DONE
    assert_done_exactly_once(batch_id, 4)
    assert int(batch_item(batch_id)["failed"]) == 1


def test_deliveries_racing_the_first_ingest(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = load_handler()
    s3_event = aws_event(f"schedules/{TENANT}/racing.csv", four_visits())
    batch_id = batch_id_of(s3_event)
    real = AwsBatchPorts.save_requests
    busy: list[str] = []

    # GIVEN the same upload delivered twice more while the first ingest is mid-way
    def save_requests(self: AwsBatchPorts, upload: Any, planned: Any) -> None:
        if not busy:
            for _ in range(2):
                with pytest.raises(ingest.BatchBusy) as refused:
                    handler(s3_event, Context())
                busy.append(str(refused.value))
        real(self, upload, planned)

    monkeypatch.setattr(AwsBatchPorts, "save_requests", save_requests)
    [summary] = handler(s3_event, Context())["batches"]
    monkeypatch.setattr(AwsBatchPorts, "save_requests", real)

    # THEN the racing deliveries were refused (no data in the refusal), the batch ran once,
    # and a later delivery does nothing
    assert len(busy) == 2 and all(batch_id in text for text in busy)
    assert summary["attempt"] == 1 and summary["started"] == 4
    assert handler(s3_event, Context())["batches"][0]["status"] == "DUPLICATE"
    run_started_inquiries()
    assert_done_exactly_once(batch_id, 4)
    for canary in CANARIES:
        assert all(canary not in text for text in busy)


def test_a_redrive_after_every_item_expired(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = load_handler()
    event = aws_event(f"schedules/{TENANT}/redrive.csv", four_visits())
    batch_id = batch_id_of(event)
    handler(event, Context())
    # GIVEN the batch's executions long over, and every item of the batch gone (TTL)
    sfn = boto3.client("stepfunctions")
    for execution in executions():
        sfn.stop_execution(executionArn=execution["executionArn"])
    table = boto3.resource("dynamodb").Table(TABLE)
    for stored in table.scan()["Items"]:
        if batch_id in str(stored["pk"]):
            table.delete_item(Key={"pk": stored["pk"], "sk": stored["sk"]})

    # WHEN the event is redriven from the dead-letter queue
    [summary] = handler(event, Context())["batches"]

    # THEN the inquiries whose names are taken by the old executions do not wait for ever:
    # they end FAILED, and the batch is DONE
    item = batch_item(batch_id)
    assert summary["attempt"] == 1
    assert item["status"] == "DONE" and int(item["failed"]) == 4
    for one in batch_inquiries(batch_id):
        assert one["status"] == "FAILED"
        assert one["reason"]["error"] == "ExecutionNotStarted"
