"""Adversarial runs of the API and the state machine: bad input, payer faults, canaries.

Every inquiry must end COMPLETED, REJECTED or FAILED with a data-free reason; retries must
follow the error's class; no canary patient value may reach an error body, a task payload or an
execution's history.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cptverify.aws import store
from cptverify_local.harness import AwsStack
from tests.aws.conftest import (
    CANARIES,
    PayerScript,
    api_event,
    execution_of,
    inquiry_body,
    submit,
)
from tests.aws.test_api import call, post_inquiry

TERMINAL = ("COMPLETED", "REJECTED", "FAILED")


def _no_canary(stack: AwsStack, *texts: str) -> None:
    """No canary in the given texts, task payloads, or any execution's input/output/history."""
    places = [*texts, json.dumps([(i.event, i.result) for i in stack.invocations], default=str)]
    client = stack.session.client("stepfunctions")
    for execution in stack.executions():
        described = client.describe_execution(executionArn=execution["executionArn"])
        places.append(
            json.dumps(
                [
                    described.get("input"),
                    described.get("output"),
                    stack.history(execution["executionArn"]),
                ],
                default=str,
            )
        )
    for text in places:
        for canary in CANARIES:
            assert canary not in text


def _final(inquiry_id: str) -> dict[str, Any]:
    item = store.get_inquiry("local", inquiry_id)
    assert item is not None
    assert item["status"] in TERMINAL
    return item


# -- payer faults through the real state machine ---------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "error", "calls"),
    [
        ("http_500", "FAILED", "PayerUnavailable", 4),
        ("http_503", "FAILED", "PayerUnavailable", None),
        ("http_429", "FAILED", "PayerUnavailable", None),
        ("drop", "FAILED", "PayerUnavailable", 4),
        # A payer busy on every call opens its circuit, so the last error may be the open circuit.
        ("aaa42", "FAILED", "PayerBusy|PayerUnavailable", None),
        ("aaa80", "FAILED", "PayerBusy|PayerUnavailable", None),
        ("truncated", "FAILED", "ResponseInvalid", 1),
        ("non_x12", "FAILED", "ResponseInvalid", 1),
        ("envelope_error", "FAILED", "PayerRejected", 1),
    ],
)
def test_a_payer_that_keeps_failing_ends_in_a_recorded_terminal_state(
    stack: AwsStack, payer: PayerScript, fault: str, status: str, error: str, calls: int | None
) -> None:
    payer.plan = [fault] * 20

    inquiry_id = submit(stack, inquiry_body())
    execution_of(stack, inquiry_id)

    item = _final(inquiry_id)
    assert item["status"] == status
    assert item["reason"]["error"] in error.split("|")
    assert item["reason"]["message"] and "unexpected" not in item["reason"]["message"]
    if calls is not None:
        assert payer.calls == calls
    assert payer.calls < 20, "retries must be bounded"
    _no_canary(stack)


@pytest.mark.parametrize("follow_up", ["W", "X", "S"])
def test_a_busy_payer_that_says_do_not_resubmit_is_not_retried(
    stack: AwsStack, payer: PayerScript, follow_up: str
) -> None:
    from cptverify.payers.errors import PayerBusy

    # GIVEN a payer whose AAA 42 carries AAA04 W/X/S (wait days, or a third party will answer)
    busy = PayerBusy.from_aaa("42", follow_up, payer_id="ACME")
    assert busy.retryable is False
    payer.plan = [busy] * 10

    # WHEN the inquiry runs
    inquiry_id = submit(stack, inquiry_body())
    execution_of(stack, inquiry_id)

    # THEN the payer is asked once, and the inquiry is FAILED as busy, with no backoff slept
    item = _final(inquiry_id)
    assert item["status"] == "FAILED" and item["reason"]["error"] == "PayerBusyNoResubmit"
    assert "resubmit" in item["reason"]["message"]
    assert payer.calls == 1
    assert stack.clock.sleeps == [] and stack.clock.waits == []


def test_an_inquiry_for_a_payer_not_in_the_registry(stack: AwsStack, payer: PayerScript) -> None:
    body = inquiry_body()
    body["payer"]["id"] = "NOSUCHPAYER"

    status, answer, _ = post_inquiry(stack, body)

    if status == 202:
        # Accepted: then it must still end in a recorded terminal state with a named reason.
        execution_of(stack, answer["inquiry_id"])
        item = _final(answer["inquiry_id"])
        assert item["status"] == "FAILED"
        assert item["reason"]["error"] == "PayerConfigError"
    else:
        assert status == 422
        assert [f["field"] for f in answer["fields"]] == ["payer.id"]
    assert payer.calls == 0


# -- API input ----------------------------------------------------------------------------------


def test_deeply_nested_json_is_a_422_naming_the_body(stack: AwsStack) -> None:
    status, body, _ = post_inquiry(stack, "[" * 30_000 + "]" * 30_000)

    assert status == 422
    assert body["fields"] == [{"field": "body", "rule": "must be valid JSON"}]


@pytest.mark.parametrize("context", [{"identity": None}, {}, None])
def test_an_event_without_an_api_key_identity_is_401(
    stack: AwsStack, context: dict[str, Any] | None
) -> None:
    event = api_event("get_inquiry.json")
    if context is None:
        del event["requestContext"]
    else:
        event["requestContext"] = context

    status, body, _ = call(stack, event)

    assert status == 401 and body["error"] == "unauthenticated"


@pytest.mark.parametrize("final", ["COMPLETED", "FAILED"])
def test_resubmit_of_a_completed_or_failed_inquiry_is_a_conflict(
    stack: AwsStack, payer: PayerScript, final: str
) -> None:
    payer.plan = [] if final == "COMPLETED" else ["envelope_error"]
    inquiry_id = submit(stack, inquiry_body())
    execution_of(stack, inquiry_id)
    assert _final(inquiry_id)["status"] == final
    fix = {"subscriber": {"member_id": "CANARYMEMBER123", "last_name": "CANARYLAST"}}

    status, body, _ = call(
        stack, api_event("resubmit_inquiry.json", path_parameters={"id": inquiry_id}, body=fix)
    )

    assert status == 409 and body["error"] == "conflict"
    assert len(stack.executions()) == 1
    _no_canary(stack, json.dumps(body))


@pytest.mark.parametrize(
    "prefer",
    ["wait=abc", "wait=-1", "wait=", "wait=99999999999", "wait=0", "respond-async", "\u00e9"],
)
def test_junk_prefer_values_answer_202(stack: AwsStack, payer: PayerScript, prefer: str) -> None:
    status, body, headers = post_inquiry(stack, inquiry_body(), Prefer=prefer)

    assert status == 202 and body["status"] == "PENDING"
    assert "preference-applied" not in headers


# -- pacing under concurrent inquiries ---------------------------------------------------------


def test_concurrent_inquiries_never_exceed_the_registry_limit(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from cptverify.payers import connector, registry
    from cptverify.payers.registry import REGISTRY_FILE_ENV
    from cptverify_local.simulator import running_simulator
    from tests.aws.conftest import PLAN_BOOK

    # GIVEN ACME limited to 2 concurrent requests, answering in 150-250 ms
    shipped = Path(registry.__file__).resolve().parent.parent / "data" / "payers.yaml"
    data = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    for entry in data["payers"]:
        if entry["id"] == "ACME":
            entry["max_concurrent_requests"] = 2
    (tmp_path / "payers.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    book = yaml.safe_load(PLAN_BOOK.read_text(encoding="utf-8"))
    book["payers"]["ACME"]["faults"]["latency"] = {"min_ms": 150, "max_ms": 250}
    (tmp_path / "book.yaml").write_text(yaml.safe_dump(book), encoding="utf-8")
    monkeypatch.setenv(REGISTRY_FILE_ENV, str(tmp_path / "payers.yaml"))

    with (
        AwsStack(concurrency=4) as stack,
        running_simulator(tmp_path / "book.yaml") as simulator,
    ):
        monkeypatch.setenv("CPTVERIFY_PAYER_BASE_URL", simulator.url)
        registry.load_registry.cache_clear()
        connector.reset_connectors()
        try:
            # WHEN six inquiries run at once
            ids = [submit(stack, inquiry_body(claim_id=f"CLM-P{n}")) for n in range(6)]
            stack.wait_all()
            peak = simulator.metrics()["payers"]["ACME"]["peak_concurrent"]
        finally:
            connector.reset_connectors()
            registry.load_registry.cache_clear()

        # THEN the payer never saw more than 2 at once, and every inquiry is terminal
        # (backoffs are recorded, not slept, so the throttled ones use up their retries at once)
        assert peak == 2
        items = [_final(i) for i in ids]
        assert any(i["status"] == "COMPLETED" for i in items)
        for item in items:
            if item["status"] == "FAILED":
                assert item["reason"]["error"] == "PayerThrottled"


# -- nothing lost ------------------------------------------------------------------------------


def test_an_inquiry_whose_execution_cannot_start_is_recorded_failed(
    stack: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cptverify.aws import executions

    # GIVEN Step Functions refusing to start executions (throttled, quota, outage)
    def refuse(tenant: str, inquiry_id: str, mode: str) -> str:
        raise RuntimeError("ExecutionLimitExceeded")

    monkeypatch.setattr(executions, "start", refuse)

    # WHEN a partner posts an inquiry
    status, body, _ = post_inquiry(stack, inquiry_body())

    # THEN the answer is a data-free 500, and the stored inquiry is not left PENDING forever
    assert status == 500 and body["error"] == "internal_error"
    table = stack.session.resource("dynamodb").Table(stack.table_name)
    items: list[dict[str, Any]] = table.scan()["Items"]
    ids = [str(i["inquiry_id"]) for i in items if "status" in i and "claim_id" in i]
    assert len(ids) == 1
    item = _final(ids[0])
    assert item["status"] == "FAILED" and item["reason"]["error"] == "ExecutionNotStarted"
    _no_canary(stack, json.dumps(body))


def test_a_provider_the_payer_does_not_know_is_rejected_not_failed(
    stack: AwsStack, payer: PayerScript
) -> None:
    # GIVEN a valid NPI the payer has never enrolled (its 271 refuses at 2100B: AAA 51)
    body = inquiry_body()
    body["provider"]["npi"] = "1234567802"

    inquiry_id = submit(stack, body)
    execution_of(stack, inquiry_id)

    # THEN the payer's refusal is recorded as REJECTED with its AAA, like a patient refusal
    item = _final(inquiry_id)
    assert item["status"] == "REJECTED", item.get("reason")
    assert [r["code"] for r in item["rejections"]] == ["51"]
    assert payer.calls == 1
    _no_canary(stack)


# -- /v1/responses amplification ---------------------------------------------------------------


def _many_patient_271(patients: int) -> str:
    """A readable 271 whose one 2000C loop is repeated `patients` times (new HL ids)."""
    from cptverify.payers.registry import get_payer
    from cptverify_local.simulator.planbook import load_plan_book
    from cptverify_local.simulator.request import asked_from_270
    from cptverify_local.simulator.writer271 import write_271
    from tests.payers.test_adversarial import build_for, inquiry_for

    book = load_plan_book()
    member = book.payers["ACME"].members[0]
    inquiry = inquiry_for(
        "ACME", member.member_id, member.first_name, member.last_name, member.birth_date.isoformat()
    )
    x12_270, _ = build_for(get_payer("ACME"), inquiry)
    segments = write_271(asked_from_270(x12_270), book, book.payers["ACME"]).split("~\n")
    first = next(i for i, s in enumerate(segments) if s.startswith("HL*3*"))
    end = next(i for i, s in enumerate(segments) if s.startswith("SE*"))
    body = segments[:first]
    for n in range(patients):
        body += [f"HL*{3 + n}*2*22*0" if s.startswith("HL*3*") else s for s in segments[first:end]]
    start = next(i for i, s in enumerate(body) if s.startswith("ST*"))
    se = segments[end].split("*")
    se[1] = str(len(body) - start + 1)
    return "~\n".join([*body, "*".join(se), *segments[end + 1 :]])


@pytest.mark.parametrize(("patients", "codes"), [(100, 99), (700, 0)])
def test_an_answer_too_large_for_lambda_is_refused_by_name(
    stack: AwsStack, patients: int, codes: int
) -> None:
    import time

    # GIVEN a 271 under the 1 MB body limit whose JSON answer would be far over Lambda's 6 MB
    text = _many_patient_271(patients)
    assert len(text) < 1024 * 1024
    query = {"cpt": [str(99201 + n % 50) for n in range(codes)]} if codes else {}

    # WHEN it is posted
    started = time.perf_counter()
    response = stack.invoke(
        "InquiryApiFunction", api_event("post_response.json", body=text, query=query)
    )
    elapsed = time.perf_counter() - started

    # THEN the answer is a small error naming what to shrink, not a 6 MB+ result, and quickly
    assert response["statusCode"] in (400, 413)
    assert len(response["body"]) < 2000
    error = json.loads(response["body"])
    assert "cpt" in error["message"] or "271" in error["message"]
    assert elapsed < 5


def test_no_canary_in_logs_across_every_fault(
    stack: AwsStack,
    payer: PayerScript,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from cptverify.payers.errors import PayerBusy, PayerTimeout

    caplog.set_level(logging.DEBUG)
    # GIVEN one canary inquiry per fault kind (each fault once; the budgets are covered above)
    faults: list[Any] = [
        "http_500",
        "http_503",
        "http_429",
        "drop",
        "aaa42",
        "aaa80",
        "truncated",
        "non_x12",
        "envelope_error",
        PayerTimeout("no answer", payer_id="ACME", code="timeout"),
        PayerBusy.from_aaa("42", "W", payer_id="ACME"),
        RuntimeError("CANARYLAST CANARYMEMBER123 19010203"),
    ]
    ids = []
    for n, fault in enumerate(faults):
        payer.plan = [fault]
        ids.append(submit(stack, inquiry_body(claim_id=f"CLM-F{n}")))
        execution_of(stack, ids[-1])
        payer.plan = []
        stack.wait_all()
        for connector in payer.real.values():
            connector.circuit.success()  # each fault reaches the payer, not an open circuit

    # THEN each is terminal, and no canary is in any log or history
    statuses = {_final(inquiry_id)["status"] for inquiry_id in ids}
    assert statuses == {"COMPLETED", "FAILED"}
    captured = capfd.readouterr()
    logs = json.dumps(
        [{**r.__dict__, "message": r.getMessage()} for r in caplog.records], default=str
    )
    assert "payer call finished" in logs
    _no_canary(stack, captured.out, captured.err, logs)


@pytest.mark.parametrize(
    ("correction", "field"),
    [
        ({"subscriber": {"member_id": "CANARYMEMBER123~ISA*"}}, "subscriber.member_id"),
        ({"subscriber": {"last_name": "CANARYLAST\u0000"}}, "subscriber.last_name"),
        ({"subscriber": {"birth_date": "19010203"}}, "subscriber.birth_date"),
        ({"subscriber": {"member_id": 19010203}}, "subscriber.member_id"),
        ({"subscriber": {"payer": "X"}}, "subscriber.payer"),
        ({"dependent": {"first_name": "CANARYFIRST"}}, None),
    ],
)
def test_a_bad_correction_names_its_field_and_leaves_the_inquiry_resubmittable(
    stack: AwsStack, payer: PayerScript, correction: dict[str, Any], field: str | None
) -> None:
    body = inquiry_body()
    body["subscriber"]["member_id"] = "NOSUCH999"
    inquiry_id = submit(stack, body)
    execution_of(stack, inquiry_id)
    assert _final(inquiry_id)["status"] == "REJECTED"

    status, answer, _ = call(
        stack,
        api_event("resubmit_inquiry.json", path_parameters={"id": inquiry_id}, body=correction),
    )

    if field is None:  # a dependent to correct where the inquiry has none
        assert status == 409
    else:
        assert status == 422
        assert field in [f["field"] for f in answer["fields"]]
    item = _final(inquiry_id)
    assert "resubmitted_as" not in item
    assert len(stack.executions()) == 1
    _no_canary(stack, json.dumps(answer))


# -- circuit breaker through the workflow ------------------------------------------------------


def test_an_open_circuit_fails_fast_then_closes(
    stack: AwsStack, payer: PayerScript, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a payer that failed five times in a row (the threshold): its circuit is open
    payer.plan = ["http_500"] * 5
    execution_of(stack, submit(stack, inquiry_body(claim_id="CLM-C1")))
    if payer.calls < 5:
        execution_of(stack, submit(stack, inquiry_body(claim_id="CLM-C0")))
    connector = payer.real["ACME"]
    assert connector.circuit.status() == "open"
    reached: list[str] = []
    real_exchange = connector.exchange

    def counted(x12_270: str, **kwargs: Any) -> Any:
        reached.append("call")
        return real_exchange(x12_270, **kwargs)

    monkeypatch.setattr(connector, "exchange", counted)

    # WHEN another inquiry runs while it is open
    second = submit(stack, inquiry_body(claim_id="CLM-C2"))
    execution_of(stack, second)

    # THEN no attempt reached the payer; each failed fast, the time left was waited as named
    item = _final(second)
    assert item["status"] == "FAILED" and item["reason"]["error"] == "PayerUnavailable"
    assert reached == []
    assert stack.clock.waits and all(0 < w <= 60 for w in stack.clock.waits)

    # AND once its time is up, the next call goes through and closes it
    opened_until = connector.circuit.store.get("ACME").opened_until or 0.0
    connector.circuit.clock = lambda: opened_until + 1
    third = submit(stack, inquiry_body(claim_id="CLM-C3"))
    execution_of(stack, third)
    assert _final(third)["status"] == "COMPLETED" and reached == ["call"]
    assert connector.circuit.status() == "closed"


def test_another_tenant_cannot_resubmit_read_or_replay(stack: AwsStack, payer: PayerScript) -> None:
    # GIVEN a REJECTED inquiry of tenant "local", sent with an Idempotency-Key
    body = inquiry_body()
    body["subscriber"]["member_id"] = "NOSUCH999"
    status, accepted, _ = post_inquiry(stack, body, Idempotency_Key="shared-key-1")
    inquiry_id = accepted["inquiry_id"]
    execution_of(stack, inquiry_id)
    assert status == 202 and _final(inquiry_id)["status"] == "REJECTED"
    stack.add_tenant("other", "other-key-id")
    other = "other-key-id"

    # WHEN another partner resubmits it, reads its claim line, and replays its key and body
    resubmit = call(
        stack,
        api_event(
            "resubmit_inquiry.json",
            path_parameters={"id": inquiry_id},
            body={"subscriber": {"member_id": "CANARYMEMBER123"}},
            api_key_id=other,
        ),
    )
    line = call(
        stack,
        api_event(
            "get_claim_procedure.json",
            path_parameters={"claim_id": "CLM-EVT-1", "cpt": "99213"},
            api_key_id=other,
        ),
    )
    replay_event = api_event(
        "post_inquiry.json",
        body=body,
        headers={"Idempotency-Key": "shared-key-1", "Prefer": None},
        api_key_id=other,
    )
    replay = call(stack, replay_event)

    # THEN nothing of "local" is reached: 404s, and the replay is a new inquiry of "other"
    assert resubmit[0] == 404 and line[0] == 404
    assert replay[0] == 202 and replay[1]["inquiry_id"] != inquiry_id
    assert "resubmitted_as" not in _final(inquiry_id)
    stack.wait_all()
    _no_canary(stack, json.dumps([resubmit[1], line[1], replay[1]]))


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("get_inquiry.json", {"id": "CANARYMEMBER123"}),
        ("resubmit_inquiry.json", {"id": "CANARYMEMBER123"}),
        ("get_claim_procedures.json", {"claim_id": "CANARYMEMBER123"}),
        ("get_claim_procedure.json", {"claim_id": "CANARYLAST", "cpt": "99213"}),
        ("get_batch.json", {"id": "CANARYFIRST"}),
    ],
)
def test_a_404_does_not_repeat_the_id_it_was_given(
    stack: AwsStack, name: str, path: dict[str, str]
) -> None:
    body = {"subscriber": {"first_name": "ANN"}} if name.startswith("resubmit") else None

    status, answer, _ = call(stack, api_event(name, path_parameters=path, body=body))

    assert status == 404 and answer["error"] == "not_found"
    for value in path.values():
        if value.startswith("CANARY"):
            assert value not in json.dumps(answer)
