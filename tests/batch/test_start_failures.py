"""A batch inquiry whose execution cannot be started is recorded FAILED and counted, so the batch
still finishes and writes its report."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from cptverify_local.harness import AwsStack
from tests.batch.schedule_data import CANARIES, row, schedule
from tests.batch.test_batch_stack import (
    TENANT,
    CountingConnector,
    get_batch,
    report_rows,
    upload,
    world,
)

__all__ = ["world"]  # the fixture, shared with the stack tests


def _failing_first_start(monkeypatch: pytest.MonkeyPatch, failures: int) -> list[str]:
    """Make the first `failures` StartExecution calls fail as AWS refuses them; their ids."""
    from cptverify.aws import executions

    real = executions.start
    refused: list[str] = []

    def start(tenant: str, inquiry_id: str, mode: str) -> str:
        if len(refused) < failures:
            refused.append(inquiry_id)
            error = {"Error": {"Code": "StateMachineDeleting", "Message": "deleting"}}
            raise ClientError(error, "StartExecution")  # type: ignore[arg-type]
        return real(tenant, inquiry_id, mode)

    monkeypatch.setattr(executions, "start", start)
    return refused


def _inquiry(stack: AwsStack, inquiry_id: str) -> dict[str, Any]:
    from cptverify.aws import store

    item = store.get_inquiry(TENANT, inquiry_id)
    assert item is not None
    return item


def test_a_refused_start_is_failed_and_counted(
    world: tuple[AwsStack, CountingConnector],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack, payer = world
    # GIVEN two visits, the first of whose executions Step Functions refuses to start
    refused = _failing_first_start(monkeypatch, failures=1)
    rows = [
        row("A1", payer="ACME", procedures="99213"),
        row("A2", claim="C2", payer="ACME", member="CANARYMEMBER124", procedures="97110"),
    ]

    # WHEN the schedule is uploaded
    batch_id = upload(stack, "refused.csv", schedule(*rows))

    # THEN that inquiry is FAILED with a data-free reason, the other runs, and the batch is done
    assert len(refused) == 1
    failed = _inquiry(stack, refused[0])
    assert failed["status"] == "FAILED"
    assert failed["reason"]["error"] == "ExecutionNotStarted"
    status, view = get_batch(stack, batch_id)
    assert status == 200 and view["status"] == "DONE"
    assert view["counts"]["inquiries"] == 2
    # (the simulator does not know the second member: that visit ends REJECTED)
    assert view["counts"]["failed"] == 1 and view["counts"]["rejected"] == 1
    assert view["progress"] == {"finished": 2, "total": 2}
    assert payer.calls == 1
    lines = report_rows(stack, view["reports"]["csv"]["key"])
    assert len(lines) == 2
    out = capsys.readouterr()
    for canary in CANARIES:
        assert canary not in out.out + out.err


def test_a_batch_whose_every_start_is_refused_still_finishes(
    world: tuple[AwsStack, CountingConnector], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, payer = world
    # GIVEN a one-visit schedule whose execution cannot be started
    refused = _failing_first_start(monkeypatch, failures=1)

    # WHEN it is uploaded
    batch_id = upload(stack, "all-refused.csv", schedule(row("A1", payer="ACME")))

    # THEN the ingest itself finishes the batch, with its one inquiry failed
    assert _inquiry(stack, refused[0])["status"] == "FAILED"
    status, view = get_batch(stack, batch_id)
    assert status == 200 and view["status"] == "DONE"
    assert view["counts"]["failed"] == 1 and payer.calls == 0
    assert stack.executions() == []
