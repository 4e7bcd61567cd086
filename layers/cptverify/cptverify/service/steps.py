"""The state machine's steps: exchange with the payer, parse and record, fail, announce.

Each takes ids only (tenant, inquiry id) and reads everything else from the table and the
archive, so no patient data passes through the execution's input, output or history.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from typing import Any

from cptverify.aws import announce as bus
from cptverify.aws import archive, lease, store
from cptverify.aws.settings import settings
from cptverify.observability import logger
from cptverify.payers.errors import PayerBusy, PayerError, PayerUnavailable
from cptverify.service import lifecycle
from cptverify.service.errors import NotFound
from cptverify.service.store_request import load_request

LEASE_MARGIN_SECONDS = 30
# What a part needs after its payer call: archiving its 271, recording, releasing the lease.
PART_MARGIN_SECONDS = 10


@cache
def _circuit_store() -> Any:
    from cptverify.aws.circuit import DynamoCircuitStore

    return DynamoCircuitStore()


def _connector(payer_id: str) -> Any:
    from cptverify.observability import trace_payer_http
    from cptverify.payers.connector import get_connector

    trace_payer_http()  # before the payer's httpx client is built
    return get_connector(payer_id, circuit_store=_circuit_store())


# Limitation: a payer-named wait is honoured at most MAX_RETRY_AFTER_WAITS times per inquiry;
# after that the error takes the ordinary Retry budget of its branch.
def _named_wait(exc: PayerError) -> float | None:
    """The wait the payer itself asked for (Retry-After, or AAA04 on a busy 271), if any."""
    if not isinstance(exc, PayerUnavailable | PayerBusy) or not exc.retryable:
        return None
    if "least_delay_seconds" not in vars(exc):
        return None
    return float(exc.least_delay_seconds)


# Limitation: the exchange's cold start is 3.8-3.9x a fresh `import boto3` on a quiet machine (goal
# 4x) and over 4x under load: four AWS clients (DynamoDB, S3, SSM, Secrets Manager), ten calls.
def exchange(
    tenant: str, inquiry_id: str, remaining_ms: Callable[[], int] | None = None
) -> dict[str, Any]:
    """Acquire a pacing lease, send the 270(s), archive both sides.

    Returns `{"outcome": "answered" | "continue" | "retry_after" | "final", "retry_after":
    seconds|None}`. A split inquiry's parts go one after another; before each part after the
    first, `remaining_ms` (the Lambda context's time left) must hold the payer's connect and
    read timeouts plus PART_MARGIN_SECONDS, else the answered parts are recorded, the lease
    released and the outcome is `continue` (the state machine runs the exchange again, which
    sends only the parts not yet answered). Answered parts are recorded on a payer error too,
    so a retry does not ask them again.
    Raises `PayerTimeout`, `PayerUnavailable`, `PayerBusy`, `PayerThrottled`, `PayerRejected`
    or `ResponseInvalid` for the state machine to retry or catch.
    """
    from cptverify.aws import clients
    from cptverify.aws.parallel import Started
    from cptverify.payers.registry import get_payer, is_deployed, load_registry
    from cptverify.schedules.requests import BATCH_INQUIRY_ID
    from cptverify.x12.builder270 import EnvelopeConfig, PayerCapabilities, build_270

    deployed = is_deployed()
    if deployed:
        clients.share_session_with_parameters()

    # The registry, the attempt and (for an API inquiry) the request are read at once, each
    # started as soon as its client exists (clients are made here, one after another: a boto3
    # session is not thread-safe). A schedule inquiry's request is found through the attempt's
    # item, so it waits for that.
    batch = bool(BATCH_INQUIRY_ID.match(inquiry_id))
    started = Started([load_registry])
    clients.table()
    attempt_read = started.add(lambda: store.start_attempt(tenant, inquiry_id))
    clients.s3()
    request_read = None if batch else started.add(lambda: load_request(tenant, inquiry_id))
    item = started.result(attempt_read)
    if item is None:
        logger.info("inquiry already final", extra={"inquiry_id": inquiry_id})
        return {"outcome": "final", "retry_after": None}
    attempt = int(item["attempts"])

    if request_read is None:
        inquiry = load_request(tenant, inquiry_id, item)
    else:
        inquiry = started.result(request_read)
    started.result(0)
    payer = get_payer(inquiry.payer.id)
    built = build_270(
        inquiry,
        EnvelopeConfig(sender_id=payer.sender_id, receiver_id=payer.receiver_id),
        PayerCapabilities(
            accepts_procedure_codes=payer.accepts_procedure_codes,
            max_procedures_per_inquiry=payer.max_procedures_per_inquiry,
            accepts_gender=payer.accepts_gender,
        ),
    )

    # Parts answered by an earlier run of this step (out of time, or a payer error after them)
    # are not sent again; a part is known by the procedures it asks about.
    responses: list[dict[str, Any]] = [
        {"key": r["key"], "procedure_indexes": [int(i) for i in r["procedure_indexes"]]}
        for r in item.get("partial_responses") or []
    ]
    answered = {tuple(r["procedure_indexes"]) for r in responses}
    parts = [
        (part, one)
        for part, one in enumerate(built.interchanges)
        if tuple(one.procedure_indexes) not in answered
    ]
    per_call = payer.connect_timeout_seconds + payer.read_timeout_seconds
    ttl = per_call * max(1, len(parts)) + LEASE_MARGIN_SECONDS
    if remaining_ms is not None:
        # A run never outlives its Lambda: a crashed one frees its slot soon after.
        ttl = min(ttl, remaining_ms() / 1000 + LEASE_MARGIN_SECONDS)
    # The lease, the circuit state and the payer's credential are read at once (the Secrets
    # Manager client, only for a payer with a secret, is made while the first two are out).
    taken = Started(
        [
            lambda: lease.acquire(payer.id, payer.max_concurrent_requests, ttl),
            lambda: _circuit_store().prefetch(payer.id),
        ]
    )
    if deployed and payer.secret_name:
        clients.share_session_with_parameters(secrets=True)
        taken.add(lambda: _prefetch_secret(payer))
    lease_id = taken.result(0)
    calls = 0
    out_of_time = False
    pending: list[Callable[[], None]] = []
    try:
        if deployed and payer.secret_name:
            taken.result(2)
        connector = _connector(payer.id)
        # Limitation: a split inquiry's 270s go one after another (one lease, one connection);
        # parts answered before a retry may be older than the rest by the retry's wait.
        for part, one in parts:
            if calls and not _fits(remaining_ms, per_call):
                out_of_time = True
                break
            # Each 270 is archived while it is on its way to the payer, beside the previous
            # part's 271; the last 271 is archived while the answer is recorded (below).
            key_270 = archive.exchange_key(tenant, inquiry_id, attempt, part, "270")
            calls += 1
            sent = Started([_archiving(key_270, one.x12), _sending(connector, one), *pending])
            for index in (0, *range(2, 2 + len(pending))):
                sent.result(index)
            answer = sent.result(1)
            key = archive.exchange_key(tenant, inquiry_id, attempt, part, "271")
            pending = [_archiving(key, answer.payload)]
            responses.append({"key": key, "procedure_indexes": list(one.procedure_indexes)})
    except PayerError as exc:
        lease.release(payer.id, lease_id)
        wait = _named_wait(exc)
        waits = int(item.get("retry_after_waits", 0))
        # Every answer in `responses` is archived: the previous part's 271 is written before
        # the failed call's result is read.
        store.update_open(
            tenant,
            inquiry_id,
            {"last_error": exc.error_name, "partial_responses": responses},
            {"payer_calls": calls},
        )
        logger.info(
            "payer exchange failed",
            extra={"inquiry_id": inquiry_id, "payer_id": payer.id, "error": exc.error_name},
        )
        if wait is not None and waits < settings().max_retry_after_waits:
            store.update_open(tenant, inquiry_id, {}, {"retry_after_waits": 1})
            return {"outcome": "retry_after", "retry_after": max(1, math.ceil(wait))}
        raise
    except BaseException:
        lease.release(payer.id, lease_id)
        raise

    if out_of_time:
        return _pause(tenant, inquiry_id, payer.id, lease_id, responses, pending, calls)

    # The slot goes back and the last 271 is archived while the answer is recorded; should
    # that archiving fail, the task fails and the parse step never reads the missing 271.
    done = Started(
        [
            lambda: lease.release(payer.id, lease_id),
            lambda: store.update_open(
                tenant,
                inquiry_id,
                {
                    "responses": sorted(responses, key=_first_index),
                    "response_attempt": attempt,
                    "partial_responses": [],
                },
                {"payer_calls": calls},
            ),
            *pending,
        ]
    )
    for index in range(2 + len(pending)):
        done.result(index)
    logger.info(
        "payer exchange answered",
        extra={"inquiry_id": inquiry_id, "payer_id": payer.id, "payer_calls": calls},
    )
    return {"outcome": "answered", "retry_after": None}


def _fits(remaining_ms: Callable[[], int] | None, per_call: float) -> bool:
    """True when one more payer call (its timeouts plus the part's margin) fits the time left."""
    if remaining_ms is None:
        return True
    return remaining_ms() / 1000 >= per_call + PART_MARGIN_SECONDS


def _pause(
    tenant: str,
    inquiry_id: str,
    payer_id: str,
    lease_id: Any,
    responses: list[dict[str, Any]],
    pending: list[Callable[[], None]],
    calls: int,
) -> dict[str, Any]:
    """Out of time before the next part: archive, record the answered parts, free the slot."""
    try:
        for archiving in pending:
            archiving()
        store.update_open(
            tenant, inquiry_id, {"partial_responses": responses}, {"payer_calls": calls}
        )
    finally:
        lease.release(payer_id, lease_id)
    logger.info(
        "payer exchange paused: time left too short for the next part",
        extra={"inquiry_id": inquiry_id, "payer_id": payer_id, "answered": len(responses)},
    )
    return {"outcome": "continue", "retry_after": None}


def _first_index(response: dict[str, Any]) -> int:
    return min((int(i) for i in response["procedure_indexes"]), default=-1)


def _archiving(key: str, text: str) -> Callable[[], None]:
    return lambda: archive.put_text(key, text)


def _sending(connector: Any, one: Any) -> Callable[[], Any]:
    return lambda: connector.send(one.x12, expected_traces=[one.trace])


def _prefetch_secret(payer: Any) -> None:
    """Read the payer's credential into the Parameters cache (the connector takes it there)."""
    from aws_lambda_powertools.utilities import parameters

    from cptverify.payers.credentials import SECRET_MAX_AGE_SECONDS

    parameters.get_secret(payer.secret_name, max_age=SECRET_MAX_AGE_SECONDS)


def parse_and_record(tenant: str, inquiry_id: str) -> dict[str, Any]:
    """Read the archived 271(s), resolve every procedure, write results and the final status.

    Returns `{"status": ...}`. Raises `ResponseInvalid` when a 271 cannot be read.
    """
    from cptverify.benefits.resolve import ProcedureRequest, resolve_procedures
    from cptverify.benefits.result import procedure_result_to_dict
    from cptverify.payers.errors import ResponseInvalid
    from cptverify.x12.errors import X12Error
    from cptverify.x12.json_view import aaa_to_dict
    from cptverify.x12.model import Patient
    from cptverify.x12.reader271 import read_271

    item = store.get_inquiry(tenant, inquiry_id)
    if item is None:
        raise NotFound(f"inquiry {inquiry_id} not found")
    if lifecycle.is_terminal(item.get("status")):
        return {"status": item["status"]}
    inquiry = load_request(tenant, inquiry_id)
    payer_calls = max(1, len(item.get("responses") or []))

    rejections: list[dict[str, Any]] = []
    written = 0
    for response in item.get("responses") or []:
        try:
            interchange = read_271(archive.get_text(response["key"]))
        except X12Error as exc:
            raise ResponseInvalid(
                f"271 is not readable ({exc.code})", payer_id=inquiry.payer.id, code=str(exc.code)
            ) from None
        txn = interchange.transactions[0] if interchange.transactions else None
        if txn is None or not (txn.patients or txn.errors):
            raise ResponseInvalid(
                "271 names no patient", payer_id=inquiry.payer.id, code="no_patient"
            )
        # A refusal at the payer or provider level (AAA at 2100A/2100B) names no patient: the
        # procedures are resolved against an empty one and carry that refusal.
        patient = txn.patients[-1] if txn.patients else Patient(role="subscriber")
        rejections += [aaa_to_dict(a) for a in txn.errors + patient.errors]
        indexes = [int(i) for i in response["procedure_indexes"]]
        requests = [
            ProcedureRequest(
                code=inquiry.procedures[i].code,
                qualifier=inquiry.procedures[i].code_qualifier,
                modifiers=tuple(inquiry.procedures[i].modifiers),
                allowed_amount=inquiry.procedures[i].allowed_amount,
            )
            for i in indexes
        ]
        results = resolve_procedures(
            patient,
            requests,
            network=inquiry.network,
            payer_calls=payer_calls,
            rejections_from_transaction=list(txn.errors),
        )
        for index, result in zip(indexes, results, strict=True):
            # A schedule inquiry names each procedure's own claim and claim line.
            place = (item.get("procedures") or [])[index : index + 1] or [{}]
            claim_id = str(place[0].get("claim_id") or inquiry.claim_id)
            line = int(place[0].get("line") or index + 1)
            if store.put_result(
                tenant,
                claim_id,
                inquiry_id,
                line,
                procedure_result_to_dict(result),
                submitted_at=str(item["created_at"]),
            ):
                written += 1

    status = lifecycle.REJECTED if rejections else lifecycle.COMPLETED
    fields: dict[str, Any] = {"results_count": len(inquiry.procedures)}
    if rejections:
        fields["rejections"] = [_aaa_fields(r) for r in rejections]
    if not store.finish(tenant, inquiry_id, status, fields):
        current = store.get_inquiry(tenant, inquiry_id) or {}
        status = current.get("status", status)
    logger.info(
        "inquiry recorded",
        extra={"inquiry_id": inquiry_id, "status": status, "results_written": written},
    )
    return {"status": status}


def _aaa_fields(aaa: dict[str, Any]) -> dict[str, Any]:
    """The AAA facts kept on the inquiry (codes and their meanings; never names or ids)."""
    wanted = ("loop", "valid_request", "code", "follow_up", "description", "retryable")
    return {k: aaa.get(k) for k in wanted if k in aaa}


def record_failure(tenant: str, inquiry_id: str, error_name: str | None) -> dict[str, Any]:
    """Record FAILED with a data-free reason; a terminal inquiry is left as it is."""
    name = error_name or "Unknown"
    recorded = store.finish(
        tenant,
        inquiry_id,
        lifecycle.FAILED,
        {"reason": {"error": name, "message": lifecycle.failure_reason(name)}},
    )
    logger.info(
        "inquiry failure recorded",
        extra={"inquiry_id": inquiry_id, "error": name, "recorded": recorded},
    )
    return {"recorded": recorded}


def announce(tenant: str, inquiry_id: str) -> dict[str, Any]:
    """Put `InquiryFinished` on the bus: ids and statuses only."""
    item = store.get_inquiry(tenant, inquiry_id)
    if item is None:
        raise NotFound(f"inquiry {inquiry_id} not found")
    detail = {
        "tenant": tenant,
        "inquiry_id": inquiry_id,
        "claim_id": item.get("claim_id"),
        "payer_id": item.get("payer_id"),
        "mode": item.get("mode"),
        "status": item.get("status"),
        "resubmit_of": item.get("resubmit_of"),
        "batch_id": item.get("batch_id"),
    }
    bus.publish(bus.INQUIRY_FINISHED, {k: v for k, v in detail.items() if v is not None})
    if item.get("batch_id"):
        from cptverify.schedules.progress import inquiry_finished

        inquiry_finished(tenant, item)
    logger.info("inquiry announced", extra={"inquiry_id": inquiry_id, "status": item.get("status")})
    return {"status": item.get("status")}
