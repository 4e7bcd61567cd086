"""Canary patient data must not appear in any log record, execution input/output/history, event
detail or error body of a run that covers success, rejection, failure and bad input."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from cptverify_local.harness import AwsStack
from tests.aws.conftest import (
    CANARIES,
    PayerScript,
    api_event,
    execution_of,
    inquiry_body,
)
from tests.aws.test_api import call, post_inquiry


def _event_queue(stack: AwsStack) -> str:
    """An SQS queue subscribed to every cptverify event on the bus."""
    sqs = stack.session.client("sqs")
    events = stack.session.client("events")
    url = sqs.create_queue(QueueName="canary-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]  # noqa: E501
    events.put_rule(
        Name="all-inquiries",
        EventBusName=stack.event_bus_name,
        EventPattern=json.dumps({"source": ["cptverify"]}),
    )
    events.put_targets(
        Rule="all-inquiries", EventBusName=stack.event_bus_name, Targets=[{"Id": "q", "Arn": arn}]
    )
    return str(url)


def _drain(stack: AwsStack, url: str) -> list[dict[str, Any]]:
    sqs = stack.session.client("sqs")
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return messages
        messages += [json.loads(m["Body"]) for m in batch]


def test_no_canary_anywhere(
    stack: AwsStack,
    payer: PayerScript,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="cptverify")
    queue = _event_queue(stack)
    error_bodies: list[str] = []

    # GIVEN a success, a rejection by the payer, a payer failure, and bad requests
    ok = post_inquiry(stack, inquiry_body(), Prefer="wait=20")
    assert ok[0] == 200
    unknown = inquiry_body(claim_id="CLM-R")
    unknown["subscriber"]["last_name"] = "CANARYLAST"
    unknown["subscriber"]["member_id"] = "CANARYMEMBER999"
    rejected = post_inquiry(stack, unknown)[1]["inquiry_id"]
    payer.plan = ["envelope_error"]
    failed = post_inquiry(stack, inquiry_body(claim_id="CLM-F"))[1]["inquiry_id"]
    for inquiry_id in (rejected, failed):
        execution_of(stack, inquiry_id)
    bad = inquiry_body()
    bad["subscriber"]["member_id"] = "CANARYMEMBER123!"
    bad["subscriber"]["birth_date"] = "1901-02-30"
    for status, body, _ in (
        post_inquiry(stack, bad),
        post_inquiry(stack, "CANARYLAST 19010203"),
        call(stack, api_event("post_response.json", body="ISA*CANARYLAST*19010203~")),
        call(
            stack,
            api_event(
                "resubmit_inquiry.json",
                path_parameters={"id": failed},
                body={"subscriber": {"last_name": "CANARYLAST"}},
            ),
        ),
    ):
        assert status >= 400
        error_bodies.append(json.dumps(body))
    stack.wait_all()

    # WHEN everything the run produced is gathered
    captured = capfd.readouterr()
    places: dict[str, str] = {
        "stdout": captured.out,
        "stderr": captured.err,
        "log records": json.dumps(
            [{**r.__dict__, "message": r.getMessage()} for r in caplog.records], default=str
        ),
        "error bodies": "\n".join(error_bodies),
        "events": json.dumps(_drain(stack, queue)),
        "task payloads": json.dumps([(i.event, i.result) for i in stack.invocations], default=str),
    }
    client = stack.session.client("stepfunctions")
    for execution in stack.executions():
        described = client.describe_execution(executionArn=execution["executionArn"])
        places[f"execution {execution['name']}"] = json.dumps(
            [
                described.get("input"),
                described.get("output"),
                stack.history(execution["executionArn"]),
            ],  # noqa: E501
            default=str,
        )

    # THEN the run did produce logs, events and histories, and no canary is in any of them
    assert "inquiry recorded" in places["log records"]
    assert "api access" in places["log records"]
    assert places["events"].count("InquiryFinished") == 3
    assert len(stack.executions()) == 3
    for where, text in places.items():
        for canary in CANARIES:
            assert canary not in text, f"{canary} found in {where}"
