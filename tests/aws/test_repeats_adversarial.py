"""POST /v1/inquiries repeats against a hostile environment (moto stack from template.yaml):
an execution that cannot start, a chain of failures past its bound, an Idempotency-Key reused
after a failure, an inquiry item gone (expired) under a live idempotency record. Invariants:
each try ends in one terminal state and runs at most once; no patient data in any answer or
log line."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from cptverify_local.harness import AwsStack
from tests.aws.conftest import CANARIES, PayerScript, api_event, inquiry_body
from tests.aws.test_api import call, post_inquiry

TERMINAL = ("COMPLETED", "REJECTED", "FAILED")


def inquiry_items(stack: AwsStack) -> list[dict[str, Any]]:
    table = stack.session.resource("dynamodb").Table(stack.table_name)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        items += [i for i in page.get("Items", []) if i.get("sk") == "INQUIRY"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def get_inquiry(stack: AwsStack, inquiry_id: str) -> tuple[int, dict[str, Any]]:
    status, body, _ = call(stack, api_event("get_inquiry.json", path_parameters={"id": inquiry_id}))
    return status, body


@pytest.mark.parametrize("key", [None, "k-start"])
def test_an_execution_that_cannot_start(
    stack: AwsStack,
    payer: PayerScript,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    key: str | None,
) -> None:
    from botocore.exceptions import ClientError

    from cptverify.aws import executions

    caplog.set_level(logging.INFO)
    real = executions.start
    # GIVEN Step Functions refusing the first start
    refusals = [ClientError({"Error": {"Code": "ServiceUnavailable"}}, "StartExecution")]

    def start(*args: Any, **kwargs: Any) -> str:
        if refusals:
            raise refusals.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(executions, "start", start)

    # WHEN the inquiry is posted, then posted again
    status, body, _ = post_inquiry(stack, inquiry_body(), Idempotency_Key=key)
    again_status, again, _ = post_inquiry(
        stack, inquiry_body(), Idempotency_Key=key, Prefer="wait=20"
    )

    # THEN the first answer names no data; the unstarted inquiry is FAILED for good and the
    # repeat is a new try that runs once
    assert status >= 500 and body["error"] == "internal_error"
    items = inquiry_items(stack)
    assert len(items) == 2
    [unstarted] = [i for i in items if i["inquiry_id"] != again["inquiry_id"]]
    assert unstarted["status"] == "FAILED"
    assert unstarted["reason"]["error"] == "ExecutionNotStarted"
    assert again_status == 200 and again["status"] == "COMPLETED"
    assert [e["name"] for e in stack.executions()] == [again["inquiry_id"]]
    out = capsys.readouterr()
    text = json.dumps(body) + out.out + out.err + "\n".join(r.getMessage() for r in caplog.records)
    for canary in CANARIES:
        assert canary not in text


def test_a_chain_of_failures_is_bounded(stack: AwsStack, payer: PayerScript) -> None:
    from cptverify.api import routes

    # GIVEN a payer that refuses every envelope
    payer.plan = ["envelope_error"] * (routes.MAX_TRIES_AFTER_FAILURE + 3)

    # WHEN the same body is posted again and again without a key, past the bound
    answers = [
        post_inquiry(stack, inquiry_body(), Prefer="wait=20")
        for _ in range(routes.MAX_TRIES_AFTER_FAILURE + 2)
    ]

    # THEN each post up to the bound is a new try that ran once and FAILED; after it, the last
    # failed try is named again and nothing more runs
    ids = [body["inquiry_id"] for _, body, _ in answers]
    bound = routes.MAX_TRIES_AFTER_FAILURE
    assert len(set(ids[:bound])) == bound
    assert ids[bound:] == [ids[bound - 1]] * 2
    assert all(body["status"] == "FAILED" for _, body, _ in answers)
    assert len(stack.executions()) == bound
    assert all(i["status"] in TERMINAL for i in inquiry_items(stack))


def test_an_idempotency_key_reused_after_a_failure(stack: AwsStack, payer: PayerScript) -> None:
    payer.plan = ["envelope_error"]
    failed = post_inquiry(stack, inquiry_body(), Idempotency_Key="k-reuse", Prefer="wait=20")[1]
    assert failed["status"] == "FAILED"

    # WHEN the key is sent again with the same body, and with another body
    same = post_inquiry(stack, inquiry_body(), Idempotency_Key="k-reuse")
    other = post_inquiry(stack, inquiry_body(claim_id="CLM-OTHER"), Idempotency_Key="k-reuse")

    # THEN the same body names the failed inquiry; another body is a conflict; nothing reran
    assert (same[1]["inquiry_id"], same[1]["status"]) == (failed["inquiry_id"], "FAILED")
    assert other[0] == 409 and other[1]["error"] == "idempotency_key_reused"
    assert len(stack.executions()) == 1
    for canary in CANARIES:
        assert canary not in json.dumps(other[1])


@pytest.mark.parametrize("key", [None, "k-expired"])
def test_a_repeat_of_an_expired_inquiry(
    stack: AwsStack, payer: PayerScript, key: str | None
) -> None:
    first = post_inquiry(stack, inquiry_body(), Idempotency_Key=key, Prefer="wait=20")[1]
    assert first["status"] == "COMPLETED"
    # GIVEN the inquiry item gone (TTL) while its idempotency record still lives
    table = stack.session.resource("dynamodb").Table(stack.table_name)
    [item] = inquiry_items(stack)
    table.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})

    # WHEN the same request comes again
    status, again, headers = post_inquiry(stack, inquiry_body(), Idempotency_Key=key)

    # THEN it is answered with an inquiry that exists (a new try), never a status made up for
    # an id that is gone
    assert status == 202
    assert again["inquiry_id"] != first["inquiry_id"]
    assert get_inquiry(stack, again["inquiry_id"])[0] == 200
    assert headers["location"] == f"/v1/inquiries/{again['inquiry_id']}"
    repeated = post_inquiry(stack, inquiry_body(), Idempotency_Key=key)[1]
    assert repeated["inquiry_id"] == again["inquiry_id"]
    assert len(stack.executions()) == 2


class Killed(BaseException):
    """The invocation dies on the spot (its time limit): no clean-up, no idempotency update."""


def expire_in_progress_records(stack: AwsStack) -> None:
    """Let Powertools' in-progress records run out, as they do once the dead invocation's
    remaining time has passed."""
    table = stack.session.resource("dynamodb").Table(stack.table_name)
    for item in table.scan()["Items"]:
        if item.get("pk") == "IDEMPOTENCY" and item.get("status") == "INPROGRESS":
            table.update_item(
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET in_progress_expiration = :past",
                ExpressionAttributeValues={":past": 1},
            )


@pytest.mark.parametrize("key", [None, "k-killed"])
@pytest.mark.parametrize(
    ("owner", "name", "after"),
    [
        ("store", "put_inquiry", False),
        ("store", "put_inquiry", True),
        ("executions", "start", True),
    ],
    ids=["before-store", "after-store", "after-start"],
)
def test_a_submit_killed_midway_then_repeated(
    stack: AwsStack,
    payer: PayerScript,
    monkeypatch: pytest.MonkeyPatch,
    key: str | None,
    owner: str,
    name: str,
    after: bool,
) -> None:
    from cptverify.aws import executions, store

    target = {"store": store, "executions": executions}[owner]
    real = getattr(target, name)

    def dying(*args: Any, **kwargs: Any) -> Any:
        if after:
            real(*args, **kwargs)
        raise Killed

    # GIVEN a POST whose invocation dies in the middle of storing and starting the inquiry
    with monkeypatch.context() as patch:
        patch.setattr(target, name, dying)
        with pytest.raises(Killed):
            post_inquiry(stack, inquiry_body(), Idempotency_Key=key)
    expire_in_progress_records(stack)

    # WHEN the client sends it again
    status, again, _ = post_inquiry(stack, inquiry_body(), Idempotency_Key=key, Prefer="wait=20")
    stack.wait_all()

    # THEN one inquiry exists, it ran once and it ended
    assert status == 200 and again["status"] == "COMPLETED"
    items = inquiry_items(stack)
    assert [i["inquiry_id"] for i in items] == [again["inquiry_id"]]
    assert [e["name"] for e in stack.executions()] == [again["inquiry_id"]]


def test_repeats_racing_the_first_post(
    stack: AwsStack, payer: PayerScript, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cptverify.aws import executions

    real = executions.start
    racing: list[tuple[int, dict[str, Any], dict[str, str]]] = []

    # GIVEN two repeats (with a key, and without) arriving while the first POST is mid-way
    def start(*args: Any, **kwargs: Any) -> str:
        if not racing:
            racing.append(post_inquiry(stack, inquiry_body()))
            racing.append(post_inquiry(stack, inquiry_body(claim_id="CLM-K"), Idempotency_Key="r"))
        return real(*args, **kwargs)

    monkeypatch.setattr(executions, "start", start)
    status, first, _ = post_inquiry(stack, inquiry_body())
    monkeypatch.setattr(executions, "start", real)

    # THEN the racing repeat of the same body is told it is in progress; the other request is
    # its own inquiry; afterwards a repeat names the first inquiry
    assert status == 202
    assert (racing[0][0], racing[0][1]["error"]) == (409, "in_progress")
    assert racing[1][0] == 202 and racing[1][1]["inquiry_id"] != first["inquiry_id"]
    assert post_inquiry(stack, inquiry_body())[1]["inquiry_id"] == first["inquiry_id"]
    assert len(stack.executions()) == 2
