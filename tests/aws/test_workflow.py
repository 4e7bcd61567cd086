"""The real state machine definition, executed by moto's interpreter with our handlers."""

from __future__ import annotations

import json

import pytest

from cptverify.aws import store
from cptverify_local.harness import AwsStack
from tests.aws.conftest import PayerScript, execution_of, inquiry_body, submit


def _errors_in_history(stack: AwsStack, arn: str) -> list[str]:
    names: list[str] = []
    for event in stack.history(arn):
        for key, details in event.items():
            if key.endswith("FailedEventDetails") and isinstance(details, dict):
                names.append(str(details.get("error")))
    return names


def test_success_records_results_and_announces(stack: AwsStack, payer: PayerScript) -> None:
    # GIVEN a known member and two procedures
    inquiry_id = submit(stack, inquiry_body())

    # WHEN the execution runs
    described = execution_of(stack, inquiry_id)

    # THEN it succeeds with ids only, and each CPT has a result
    assert described["status"] == "SUCCEEDED"
    assert set(json.loads(described["input"])) == {"tenant", "inquiry_id", "mode"}
    item = store.get_inquiry("local", inquiry_id)
    assert item is not None and item["status"] == "COMPLETED"
    assert item["attempts"] == 1 and item["payer_calls"] == 1
    assert item["gsi1pk"] == "STATUS#COMPLETED" and item["gsi1sk"].endswith(inquiry_id)
    results = store.claim_results("local", "CLM-EVT-1")
    assert [(r["code"], r["line"]) for r in results] == [("97110", 2), ("99213", 1)]
    assert payer.calls == 1
    assert stack.clock.sleeps == []


def test_retry_then_success_uses_full_jitter_backoff(stack: AwsStack, payer: PayerScript) -> None:
    # GIVEN a payer that fails twice with HTTP 500 (no Retry-After)
    payer.plan = ["http_500", "http_500"]

    # WHEN a real-time inquiry runs
    inquiry_id = submit(stack, inquiry_body())
    described = execution_of(stack, inquiry_id)

    # THEN it is retried with exponential backoff and full jitter, then completes
    assert described["status"] == "SUCCEEDED"
    assert stack.clock.jitter_ceilings == [2.0, 4.0]
    assert all(0 <= s <= c for s, c in zip(stack.clock.sleeps, [2.0, 4.0], strict=True))
    item = store.get_inquiry("local", inquiry_id)
    assert item is not None and item["status"] == "COMPLETED" and item["attempts"] == 3
    assert payer.calls == 3


def test_retries_exhausted_records_failed_with_reason(stack: AwsStack, payer: PayerScript) -> None:
    # GIVEN a payer that stays down
    payer.plan = ["http_500"] * 4

    # WHEN the inquiry runs out of real-time retries
    inquiry_id = submit(stack, inquiry_body())
    described = execution_of(stack, inquiry_id)

    # THEN it ends FAILED with a data-free reason, and the execution fails for the alarm
    assert described["status"] == "FAILED"
    assert "PayerUnavailable" in _errors_in_history(stack, described["executionArn"])
    item = store.get_inquiry("local", inquiry_id)
    assert item is not None and item["status"] == "FAILED"
    assert item["reason"]["error"] == "PayerUnavailable"
    assert payer.calls == 4
    assert len(stack.clock.jitter_ceilings) == 3


def test_timeout_waits_at_least_90_seconds(stack: AwsStack, payer: PayerScript) -> None:
    from cptverify.payers.errors import PayerTimeout

    payer.plan = [PayerTimeout("no answer within the timeout", payer_id="ACME", code="timeout")]

    inquiry_id = submit(stack, inquiry_body())
    described = execution_of(stack, inquiry_id)

    assert described["status"] == "SUCCEEDED"
    assert stack.clock.sleeps == [90.0]


def test_batch_branch_has_its_own_budget(stack: AwsStack, payer: PayerScript) -> None:
    payer.plan = ["http_500"]

    inquiry_id = submit(stack, inquiry_body(), mode="batch")
    described = execution_of(stack, inquiry_id)

    assert described["status"] == "SUCCEEDED"
    assert stack.clock.jitter_ceilings == [60.0]


@pytest.mark.parametrize(
    ("fault", "error"), [("envelope_error", "PayerRejected"), ("non_x12", "ResponseInvalid")]
)
def test_no_retry_on_rejection_or_invalid_response(
    stack: AwsStack, payer: PayerScript, fault: str, error: str
) -> None:
    payer.plan = [fault]

    inquiry_id = submit(stack, inquiry_body())
    described = execution_of(stack, inquiry_id)

    assert described["status"] == "FAILED"
    item = store.get_inquiry("local", inquiry_id)
    assert item is not None and item["status"] == "FAILED" and item["reason"]["error"] == error
    assert payer.calls == 1 and stack.clock.sleeps == []


def test_patient_rejection_is_rejected_and_resubmittable(
    stack: AwsStack, payer: PayerScript
) -> None:
    # GIVEN a member id the payer does not know
    body = inquiry_body()
    body["subscriber"]["member_id"] = "NOSUCH999"

    inquiry_id = submit(stack, body)
    described = execution_of(stack, inquiry_id)

    # THEN the payer's answer is read: REJECTED with the AAA, no retry
    assert described["status"] == "SUCCEEDED"
    item = store.get_inquiry("local", inquiry_id)
    assert item is not None and item["status"] == "REJECTED"
    assert item["rejections"] and item["rejections"][0]["code"]
    assert payer.calls == 1


def test_retry_after_is_honoured_with_a_wait(stack: AwsStack, payer: PayerScript) -> None:
    # GIVEN a payer that answers 503 with Retry-After: 7 once
    payer.plan = ["http_503"]

    inquiry_id = submit(stack, inquiry_body())
    described = execution_of(stack, inquiry_id)

    # THEN the workflow waited the payer's 7 seconds (a Wait state, not a Retry) and completed
    assert described["status"] == "SUCCEEDED"
    assert stack.clock.waits == [7.0]
    assert stack.clock.sleeps == []
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in stack.history(described["executionArn"])
        if "stateEnteredEventDetails" in e
    ]  # noqa: E501
    assert "WaitRetryAfter" in entered


def test_retry_after_is_capped() -> None:
    from cptverify_local.simulator import running_simulator  # noqa: F401 - via the payer fixture

    with AwsStack(overrides={"RetryAfterCapSeconds": 3}) as stack:
        from cptverify.payers import connector, registry
        from cptverify.service import steps
        from tests.aws.conftest import PLAN_BOOK

        with running_simulator(PLAN_BOOK) as simulator, pytest.MonkeyPatch.context() as mp:
            mp.setenv("CPTVERIFY_PAYER_BASE_URL", simulator.url)
            registry.load_registry.cache_clear()
            connector._connectors.clear()
            script = PayerScript(plan=["http_503"])
            mp.setattr(steps, "_connector", script.connector_for)
            inquiry_id = submit(stack, inquiry_body())
            described = execution_of(stack, inquiry_id)
            connector._connectors.clear()
            registry.load_registry.cache_clear()
    assert described["status"] == "SUCCEEDED"
    assert stack.clock.waits == [3.0]


def test_lease_exhausted_raises_throttled_and_retries(stack: AwsStack, payer: PayerScript) -> None:
    from cptverify.aws import lease

    # GIVEN every one of the payer's 8 slots is held by live leases
    held = [lease.acquire("ACME", 8, 600) for _ in range(8)]

    # WHEN an inquiry runs
    inquiry_id = submit(stack, inquiry_body())
    described = execution_of(stack, inquiry_id)

    # THEN it never calls the payer, retries on PayerThrottled, and ends FAILED
    assert described["status"] == "FAILED"
    item = store.get_inquiry("local", inquiry_id)
    assert item is not None and item["reason"]["error"] == "PayerThrottled"
    assert payer.calls == 0
    assert len(stack.clock.jitter_ceilings) == 3
    for lease_id in held:
        lease.release("ACME", lease_id)
    assert lease.live_holders("ACME") == 0


def test_expired_leases_do_not_count(stack: AwsStack) -> None:
    from cptverify.aws import lease

    for _ in range(3):
        lease.acquire("ACME", 3, 10, clock=lambda: 1000.0)
    # 20 s later the three leases of a crashed task have expired
    lease.acquire("ACME", 3, 10, clock=lambda: 1020.0)
    assert lease.live_holders("ACME", clock=lambda: 1020.0) == 1


def test_late_duplicate_cannot_overwrite_a_terminal_status(
    stack: AwsStack, payer: PayerScript
) -> None:
    from cptverify.service import steps

    # GIVEN a completed inquiry
    inquiry_id = submit(stack, inquiry_body())
    assert execution_of(stack, inquiry_id)["status"] == "SUCCEEDED"
    before = store.get_inquiry("local", inquiry_id)
    results_before = store.claim_results("local", "CLM-EVT-1")

    # WHEN a duplicate execution for it arrives late, and a late failure record too
    arn = stack.start_execution("local", inquiry_id)
    described = stack.wait_execution(arn)
    steps.record_failure("local", inquiry_id, "PayerTimeout")

    # THEN nothing changes: no payer call, same status, results written once
    assert described["status"] == "SUCCEEDED"
    assert payer.calls == 1
    after = store.get_inquiry("local", inquiry_id)
    assert after == before
    assert store.claim_results("local", "CLM-EVT-1") == results_before


def test_a_retried_parse_never_writes_a_result_twice(stack: AwsStack, payer: PayerScript) -> None:
    inquiry_id = submit(stack, inquiry_body())
    assert execution_of(stack, inquiry_id)["status"] == "SUCCEEDED"
    result = store.claim_results("local", "CLM-EVT-1")[0]

    item = store.get_inquiry("local", inquiry_id) or {}
    written = store.put_result(
        "local",
        "CLM-EVT-1",
        inquiry_id,
        result["line"],
        result,
        submitted_at=item["created_at"],
    )

    assert written is False
    assert len(store.inquiry_results("local", inquiry_id)) == 2


def test_two_inquiries_for_one_claim_each_keep_their_own_results(
    stack: AwsStack, payer: PayerScript
) -> None:
    from cptverify.service import inquiries

    # GIVEN two inquiries for the same claim, the second submitted after the first
    older = submit(stack, inquiry_body())
    execution_of(stack, older)
    newer = submit(stack, inquiry_body())
    execution_of(stack, newer)

    # WHEN the older one's result writes arrive again, late (as when it finished last)
    older_item = store.get_inquiry("local", older) or {}
    for result in store.inquiry_results("local", older):
        store.put_result(
            "local",
            "CLM-EVT-1",
            older,
            result["line"],
            {**result, "status": "late"},
            submitted_at=older_item["created_at"],
        )

    # THEN each inquiry's view lists its own two results, and the claim shows the newer answer
    for inquiry_id in (older, newer):
        view = inquiries.view("local", inquiry_id)
        assert view["status"] == "COMPLETED"
        assert [(r["code"], r["line"]) for r in view["results"]] == [("99213", 1), ("97110", 2)]
        assert {r["inquiry_id"] for r in view["results"]} == {inquiry_id}
    claim = store.claim_results("local", "CLM-EVT-1")
    assert [(r["code"], r["inquiry_id"]) for r in claim] == [("97110", newer), ("99213", newer)]
    assert "late" not in {r["status"] for r in claim}


def test_a_newer_inquiry_finishing_first_is_not_overwritten(stack: AwsStack) -> None:
    # GIVEN a result from the newer inquiry already on the claim
    result = {"code": "99213", "modifiers": [], "status": "covered"}
    store.put_result("local", "CLM-RACE", "B", 1, result, submitted_at="2026-12-03T10:00:01.000Z")

    # WHEN the older inquiry writes its result later
    written = store.put_result(
        "local",
        "CLM-RACE",
        "A",
        1,
        {**result, "status": "not_covered"},
        submitted_at="2026-12-03T10:00:00.000Z",
    )

    # THEN the older inquiry keeps its own copy, but the claim still shows the newer answer
    assert written is True
    assert [r["status"] for r in store.inquiry_results("local", "A")] == ["not_covered"]
    assert [(r["inquiry_id"], r["status"]) for r in store.claim_results("local", "CLM-RACE")] == [
        ("B", "covered")
    ]

    # AND a still newer inquiry does replace it
    store.put_result("local", "CLM-RACE", "C", 1, result, submitted_at="2026-12-03T10:00:02.000Z")
    assert [r["inquiry_id"] for r in store.claim_results("local", "CLM-RACE")] == ["C"]


def test_circuit_state_is_shared_through_the_table(stack: AwsStack) -> None:
    from cptverify.aws.circuit import DynamoCircuitStore

    # GIVEN two function instances, each with its own store object
    one, other = DynamoCircuitStore(), DynamoCircuitStore()

    # WHEN one of them records enough failures
    one.record_failure("ACME", 2, 60, 1000.0)
    opened = one.record_failure("ACME", 2, 60, 1000.0)

    # THEN the other sees the circuit open, and a success closes it for both
    assert opened.is_open(1001.0)
    assert other.get("ACME").is_open(1001.0)
    other.record_success("ACME")
    assert one.get("ACME").failures == 0 and not one.get("ACME").is_open(1001.0)


def test_task_errors_keep_the_name_and_drop_the_data() -> None:
    from cptverify.api.errors import step_error
    from cptverify.payers.errors import PayerTimeout

    raised = step_error(ValueError("member CANARYMEMBER123 born 19010203"))
    payer = step_error(PayerTimeout("no answer", payer_id="ACME", code="timeout"))

    assert type(raised).__name__ == "ValueError" and str(raised) == "ValueError"
    assert type(payer).__name__ == "PayerTimeout"
    assert str(payer) == "PayerTimeout, payer ACME, code timeout"
