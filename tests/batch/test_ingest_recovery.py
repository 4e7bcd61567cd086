"""Ingest that always ends, under moto: an invocation killed while reading or while starting,
then the event delivered again, ends with every inquiry terminal exactly once and the batch
DONE; a claim that ran out is taken over, a live one is not; the time limit is watched."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from cptverify.aws import executions as sfn_starts
from cptverify.aws import store
from cptverify.schedules import dynamo, ingest, progress
from cptverify.schedules.adapters import AwsBatchPorts
from cptverify.schedules.ingest import BatchBusy, IngestHandedOver, upload_from_object
from cptverify.schedules.notification import created_objects
from tests.batch.conftest import TENANT
from tests.batch.schedule_data import CANARIES, NPI_2, row, schedule
from tests.batch.test_ingest_moto import (
    Context,
    aws_event,
    executions,
    load_handler,
    run_started_inquiries,
    s3_text,
)

TERMINAL = ("COMPLETED", "REJECTED", "FAILED")
STALE = ingest.FUNCTION_TIME_LIMIT + ingest.CLAIM_MARGIN + 1


class Killed(BaseException):
    """The invocation dies on the spot (killed at its time limit, out of memory): no clean-up."""


@dataclass
class TimedContext(Context):
    """A Lambda context whose remaining time (milliseconds) the test decides, call by call."""

    remaining: list[int] = field(default_factory=list)

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining.pop(0) if len(self.remaining) > 1 else self.remaining[0]


def four_visits() -> bytes:
    """Four inquiries (the first one two rows of one visit) and one bad row: six lines."""
    return schedule(
        row("A1", procedures="99213;97110:GP", amounts="120.00;95.00"),
        row("A2", claim="C2", procedures="70551"),  # same visit as A1
        row("A3", claim="C3", member="CANARYMEMBER124", procedures="99214"),
        row("A4", claim="C4", npi=NPI_2, procedures="99213"),
        row("A5", claim="C5", member="CANARYMEMBER125", payer="BLUEPEAK"),
        row("B1", npi="1234567890"),  # bad check digit
    )


def batch_id_of(event: dict[str, Any]) -> str:
    [(bucket, key, version)] = created_objects(event)
    return upload_from_object(bucket, key, version).batch_id


def later(monkeypatch: pytest.MonkeyPatch, seconds: int) -> None:
    """Move the ingest's clock on (claims are compared with it)."""
    real = ingest._now
    monkeypatch.setattr(ingest, "_now", lambda: real() + seconds)


def kill_on_call(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, call: int) -> None:
    """Make the `call`-th call of `owner.name` kill the invocation."""
    real = getattr(owner, name)
    calls = [0]

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == call:
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, dying)


def batch_item(batch_id: str) -> dict[str, Any]:
    item = progress.get_batch(TENANT, batch_id)
    assert item is not None
    return item


def inquiry(batch_id: str, number: int) -> dict[str, Any]:
    item = store.get_inquiry(TENANT, f"{batch_id}-{number:05d}")
    assert item is not None
    return item


def assert_done_exactly_once(batch_id: str, inquiries: int, lines: int = 6) -> None:
    """Every inquiry terminal and counted once, none started twice, the batch DONE."""
    item = batch_item(batch_id)
    assert item["status"] == "DONE"
    assert int(item["inquiries"]) == inquiries
    assert sum(int(item.get(c, 0)) for c in ("completed", "rejected", "failed")) == inquiries
    names = Counter(e["name"] for e in executions() if e["name"].startswith(batch_id))
    assert set(names.values()) <= {1}
    for number in range(1, inquiries + 1):
        one = inquiry(batch_id, number)
        assert one["status"] in TERMINAL and one.get("batch_counted") is True
    report = list(csv.DictReader(io.StringIO(s3_text(str(item["report_csv"])))))
    assert len(report) == len(list(progress.batch_lines(TENANT, batch_id))) == lines


@pytest.mark.parametrize("where", ["writing line items", "marking the batch RUNNING"])
def test_killed_while_reading_then_redelivered(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, all_logs: Any, where: str
) -> None:
    handler = load_handler()
    event = aws_event(f"schedules/{TENANT}/read-kill.csv", four_visits())
    batch_id = batch_id_of(event)
    # GIVEN an ingest killed before it started anything
    with monkeypatch.context() as patch:
        if where == "writing line items":
            kill_on_call(patch, dynamo.BatchWriter, "put", 3)
        else:
            kill_on_call(patch, AwsBatchPorts, "update_batch", 2)  # RUNNING
        with pytest.raises(Killed):
            handler(event, Context())
    held = batch_item(batch_id)
    assert held["status"] == "INGESTING" and int(held["attempt"]) == 1
    assert executions() == []

    # WHEN the event comes again while the dead invocation's claim still holds
    with pytest.raises(BatchBusy) as busy:
        handler(event, Context())
    # THEN a live claim is not taken over
    assert int(batch_item(batch_id)["attempt"]) == 1
    assert batch_item(batch_id)["status"] == "INGESTING"

    # WHEN it comes again once the claim has run out
    later(monkeypatch, STALE)
    [summary] = handler(event, Context())["batches"]

    # THEN the batch is taken over and redone, and every inquiry ends exactly once
    assert summary["attempt"] == 2 and summary["status"] == "RUNNING"
    assert summary["inquiries"] == summary["started"] == 4
    assert (summary["rows"], summary["bad_rows"], summary["lines"]) == (6, 1, 6)
    run_started_inquiries()
    assert_done_exactly_once(batch_id, 4)
    assert handler(event, Context())["batches"][0]["status"] == "DUPLICATE"
    logs = all_logs()
    assert "batch taken over" in logs
    for canary in CANARIES:
        assert canary not in logs and canary not in str(busy.value)


def test_a_redo_leaves_a_finished_inquiry_as_it_is(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cptverify.service import steps

    handler = load_handler()
    event = aws_event(f"schedules/{TENANT}/redo-finished.csv", four_visits())
    batch_id = batch_id_of(event)
    # GIVEN an ingest killed after writing its inquiries, one of which somehow already ended
    with monkeypatch.context() as patch:
        kill_on_call(patch, AwsBatchPorts, "update_batch", 2)  # RUNNING
        with pytest.raises(Killed):
            handler(event, Context())
    steps.record_failure(TENANT, f"{batch_id}-00002", "PayerUnavailable")
    steps.announce(TENANT, f"{batch_id}-00002")

    # WHEN the batch is taken over and redone
    later(monkeypatch, STALE)
    [summary] = handler(event, Context())["batches"]

    # THEN that inquiry keeps its end (not written back to PENDING) and is not started
    assert inquiry(batch_id, 2)["status"] == "FAILED"
    assert summary["started"] == 3 and len(executions()) == 3
    run_started_inquiries()
    assert inquiry(batch_id, 2)["status"] == "FAILED"
    assert_done_exactly_once(batch_id, 4)
    assert int(batch_item(batch_id)["failed"]) == 1


def test_killed_while_starting_then_redelivered(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = load_handler()
    event = aws_event(f"schedules/{TENANT}/start-kill.csv", four_visits())
    batch_id = batch_id_of(event)
    monkeypatch.setattr(ingest, "START_CHUNK", 1)
    monkeypatch.setattr(ingest, "CHECKPOINT_EVERY", 2)
    # GIVEN an ingest killed at its fourth start (the second is checkpointed, the third is not)
    with monkeypatch.context() as patch:
        kill_on_call(patch, sfn_starts, "start", 4)
        with pytest.raises(Killed):
            handler(event, Context())
    held = batch_item(batch_id)
    assert held["status"] == "RUNNING" and held["started_through"] == f"{batch_id}-00002"
    assert len(executions()) == 3
    # ... and the inquiries it did start have already finished
    run_started_inquiries()
    finished = [inquiry(batch_id, n)["status"] for n in (1, 2, 3)]
    assert all(status in TERMINAL for status in finished)
    assert inquiry(batch_id, 4)["status"] == "PENDING"

    # WHEN the event comes again after the claim ran out
    later(monkeypatch, STALE)
    [summary] = handler(event, Context())["batches"]

    # THEN only the unstarted inquiry is started (a finished one is not touched again)
    assert summary["attempt"] == 2 and summary["started"] == 1
    assert (summary["rows"], summary["bad_rows"], summary["inquiries"]) == (6, 1, 4)
    assert [inquiry(batch_id, n)["status"] for n in (1, 2, 3)] == finished
    run_started_inquiries()
    assert_done_exactly_once(batch_id, 4)


def test_a_restart_of_a_started_inquiry_is_harmless(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = load_handler()
    event = aws_event(f"schedules/{TENANT}/no-checkpoint.csv", four_visits())
    batch_id = batch_id_of(event)
    monkeypatch.setattr(ingest, "START_CHUNK", 1)
    # GIVEN an ingest killed at its third start, with no checkpoint written yet
    with monkeypatch.context() as patch:
        kill_on_call(patch, sfn_starts, "start", 3)
        with pytest.raises(Killed):
            handler(event, Context())
    assert "started_through" not in batch_item(batch_id)

    # WHEN it is taken over while the two started ones still run
    later(monkeypatch, STALE)
    [summary] = handler(event, Context())["batches"]

    # THEN those two are started again harmlessly (same name), and nothing runs twice
    assert summary["started"] == 4 and len(executions()) == 4
    run_started_inquiries()
    assert_done_exactly_once(batch_id, 4)


def test_a_failing_ingest_releases_its_claim_for_the_retry(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = load_handler()
    event = aws_event(f"schedules/{TENANT}/release.csv", four_visits())
    batch_id = batch_id_of(event)
    # GIVEN an ingest that fails with an ordinary error (S3 refusing the request archive)
    with monkeypatch.context() as patch:

        def refuse(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("archive unavailable")

        patch.setattr(AwsBatchPorts, "save_requests", refuse)
        with pytest.raises(RuntimeError):
            handler(event, Context())
    held = batch_item(batch_id)
    assert held["status"] == "INGESTING" and int(held["claim_until"]) <= ingest._now()

    # WHEN Lambda retries it at once (no clock change)
    [summary] = handler(event, Context())["batches"]

    # THEN the retry takes over and finishes the ingest
    assert summary["attempt"] == 2 and summary["started"] == 4
    run_started_inquiries()
    assert_done_exactly_once(batch_id, 4)


def test_reading_stops_before_the_time_limit_and_names_the_unread_rows(
    aws: dict[str, str], all_logs: Any
) -> None:
    handler = load_handler()
    event = aws_event(f"schedules/{TENANT}/long.csv", four_visits())
    batch_id = batch_id_of(event)
    reserve = ingest.READ_RESERVE * 1000
    # GIVEN an invocation whose time runs short after the third row (the claim asks first)
    context = TimedContext(remaining=[900_000, 800_000, 700_000, 600_000, reserve - 1])

    # WHEN the schedule is ingested
    [summary] = handler(event, context)["batches"]

    # THEN the rows read are verified and the rest is named in the error report
    assert summary["rows"] == 3 and summary["unread_from_row"] == 5
    assert summary["inquiries"] == 2 and summary["started"] == 2
    run_started_inquiries()
    item = batch_item(batch_id)
    assert item["status"] == "DONE" and int(item["unread_from_row"]) == 5
    [problem] = list(csv.DictReader(io.StringIO(s3_text(str(item["error_report"])))))
    assert (problem["row"], problem["column"]) == ("5", "row")
    assert "time limit" in problem["reason"] and "not verified" in problem["reason"]
    for canary in CANARIES:
        assert canary not in problem["reason"] and canary not in all_logs()


def test_starting_hands_over_before_the_time_limit(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = load_handler()
    event = aws_event(f"schedules/{TENANT}/handover.csv", four_visits())
    batch_id = batch_id_of(event)
    monkeypatch.setattr(ingest, "START_CHUNK", 2)
    short = ingest.START_RESERVE * 1000 - 1

    # GIVEN an invocation whose time runs short after its first chunk of starts
    def remaining() -> int:
        return 900_000 if len(executions()) < 2 else short

    context = TimedContext()
    context.get_remaining_time_in_millis = remaining  # type: ignore[method-assign]

    # WHEN the schedule is ingested
    with pytest.raises(IngestHandedOver) as handed:
        handler(event, context)

    # THEN it stops, checkpointed and with its claim released, and the retry starts the rest
    held = batch_item(batch_id)
    assert held["status"] == "RUNNING" and held["started_through"] == f"{batch_id}-00002"
    assert int(held["claim_until"]) <= ingest._now()
    assert len(executions()) == 2
    [summary] = handler(event, Context())["batches"]
    assert summary["attempt"] == 2 and summary["started"] == 2
    run_started_inquiries()
    assert_done_exactly_once(batch_id, 4)
    for canary in CANARIES:
        assert canary not in str(handed.value)


def test_unknown_payer_is_a_row_error_at_ingest(aws: dict[str, str], all_logs: Any) -> None:
    handler = load_handler()
    data = schedule(
        row("A1"),
        row("X1", claim="X1", payer="NOSUCHPAYER", member="CANARYMEMBER126"),
        row("X2", claim="X2", payer="acme"),  # the registry's ACME, in lower case
    )
    event = aws_event(f"schedules/{TENANT}/payers.csv", data)

    [summary] = handler(event, Context())["batches"]

    assert (summary["rows"], summary["bad_rows"], summary["inquiries"]) == (3, 1, 1)
    item = batch_item(batch_id_of(event))
    [problem] = list(csv.DictReader(io.StringIO(s3_text(str(item["error_report"])))))
    assert (problem["row"], problem["appointment_id"], problem["column"]) == ("3", "X1", "payer_id")
    assert problem["reason"].startswith("not a payer this service is set up for")
    assert "NOSUCHPAYER" not in json.dumps(problem)
    for canary in CANARIES:
        assert canary not in all_logs()


def test_without_a_readable_registry_payers_are_left_to_run_time(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any, all_logs: Any
) -> None:
    from cptverify.payers import registry

    broken = tmp_path / "payers.yaml"
    broken.write_text("payers: [\n")
    monkeypatch.setenv(registry.REGISTRY_FILE_ENV, str(broken))
    registry.load_registry.cache_clear()
    try:
        event = aws_event(
            f"schedules/{TENANT}/no-registry.csv", schedule(row("A1", payer="NOSUCH"))
        )
        [summary] = load_handler()(event, Context())["batches"]
    finally:
        registry.load_registry.cache_clear()

    assert (summary["bad_rows"], summary["inquiries"], summary["started"]) == (0, 1, 1)
    assert "payer registry unreadable" in all_logs()
