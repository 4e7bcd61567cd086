"""A moto account with the table, bucket, bus and state machine the batch path uses.

The state machine is created but not executed here (moto's default): tests drive the steps
themselves with an archived 271, or count the executions ingest started.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cptverify_local.harness.template import table_keys

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "batch"
TABLE = "cptverify-test"
BUCKET = "cptverify-archive-test"
BUS = "cptverify-test"
TENANT = "t1"


def create_resources() -> dict[str, str]:
    """Table (keys, gsi1, TTL as template.yaml declares them), bucket, bus, state machine."""
    import boto3

    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=TABLE,
        **table_keys(),
    )
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    boto3.client("events").create_event_bus(Name=BUS)
    machine = boto3.client("stepfunctions").create_state_machine(
        name="cptverify-test-inquiry",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/cptverify-test",
    )
    return {"state_machine_arn": machine["stateMachineArn"]}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    from moto import mock_aws

    from cptverify.aws import clients

    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("ARCHIVE_BUCKET", BUCKET)
    monkeypatch.setenv("EVENT_BUS_NAME", BUS)
    monkeypatch.setenv("CPTVERIFY_FRESHNESS_SECRET", "test-secret")
    monkeypatch.setenv("RESULT_FRESHNESS_HOURS", "24")
    monkeypatch.setenv("CPTVERIFY_AWS_THREADS", "1")  # in-process moto is not thread-safe
    with mock_aws():
        created = create_resources()
        monkeypatch.setenv("STATE_MACHINE_ARN", created["state_machine_arn"])
        clients.reset()
        yield created
        clients.reset()


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Any:
    """Everything logged (Powertools writes JSON to stdout) or captured, as one string."""
    caplog.set_level(logging.INFO)

    def text() -> str:
        out = capsys.readouterr()
        return out.out + out.err + "\n".join(r.getMessage() for r in caplog.records)

    return text
