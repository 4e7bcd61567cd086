"""Inquiry flows behind the partner API: submit, read, wait, resubmit, claim results, parse.

Every function takes the caller's tenant first; every key it reads is built from it, so one
tenant can never reach another's items (a foreign id is simply not found).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cptverify.aws import executions, store
from cptverify.inquiry import Inquiry
from cptverify.observability import logger
from cptverify.service import lifecycle
from cptverify.service.errors import Conflict, NotFound, UnknownPayer
from cptverify.service.store_request import load_request_data, save_request

MAX_WAIT_SECONDS = 25
NOT_STARTED = "ExecutionNotStarted"
POLL_SECONDS = 0.25


def check_payer(payer_id: str) -> None:
    """Raise UnknownPayer when the payer registry does not list `payer_id`.

    An unreadable registry lets the inquiry through (logged): its exchange then records it
    FAILED with the registry's error, so it still ends in a terminal state.
    """
    from cptverify.payers.errors import PayerConfigError
    from cptverify.payers.registry import load_registry

    try:
        known = payer_id in load_registry().ids()
    except PayerConfigError:
        logger.warning("payer registry unreadable; payer id not checked")
        return
    if not known:
        raise UnknownPayer()


def new_inquiry_id() -> str:
    """Time-ordered, unique and free of patient data (also the execution name)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:12]


def submit(
    tenant: str,
    inquiry: Inquiry,
    *,
    mode: lifecycle.Mode = "realtime",
    resubmit_of: str | None = None,
    extra: dict[str, Any] | None = None,
    inquiry_id: str | None = None,
) -> dict[str, Any]:
    """Store a new inquiry (request in the archive, item PENDING) and start its execution."""
    inquiry_id = inquiry_id or new_inquiry_id()
    save_request(tenant, inquiry_id, inquiry)
    item: dict[str, Any] = {
        "tenant": tenant,
        "inquiry_id": inquiry_id,
        "claim_id": inquiry.claim_id,
        "payer_id": inquiry.payer.id,
        "mode": mode,
        "procedures": [
            {"line": n, "code": p.code, "modifiers": list(p.modifiers)}
            for n, p in enumerate(inquiry.procedures, start=1)
        ],
        **(extra or {}),
    }
    if resubmit_of:
        item["resubmit_of"] = resubmit_of
    store.put_inquiry(item)
    _start(tenant, inquiry_id, mode)
    logger.info("inquiry submitted", extra={"inquiry_id": inquiry_id, "mode": mode})
    return {"inquiry_id": inquiry_id, "status": lifecycle.PENDING}


def _start(tenant: str, inquiry_id: str, mode: str, *, again: bool = False) -> None:
    """Start the inquiry's execution; when that fails, record it FAILED and raise.

    With `again`, an execution already started under this id counts as started.
    """
    from botocore.exceptions import ClientError

    try:
        executions.start(tenant, inquiry_id, mode)
    except ClientError as exc:
        if again and exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            return
        _not_started(tenant, inquiry_id)
        raise
    except Exception:
        _not_started(tenant, inquiry_id)
        raise


def _not_started(tenant: str, inquiry_id: str) -> None:
    """Nothing will ever run this inquiry: record it FAILED rather than leave it PENDING."""
    store.finish(
        tenant,
        inquiry_id,
        lifecycle.FAILED,
        {"reason": {"error": NOT_STARTED, "message": lifecycle.failure_reason(NOT_STARTED)}},
    )
    logger.info("inquiry execution not started", extra={"inquiry_id": inquiry_id})


# How long a request key names its inquiry (Powertools keeps the idempotency record as long).
SUBMISSION_SECONDS = 24 * 3600


def _submission_key(tenant: str, request_key: str) -> dict[str, str]:
    import hashlib

    digest = hashlib.sha256(f"{tenant}\n{request_key}".encode()).hexdigest()
    return {"pk": f"TENANT#{tenant}#SUBMISSION#{digest}", "sk": "SUBMISSION"}


# Limitation: a POST whose invocation died after storing its inquiry and is never repeated leaves
# that inquiry PENDING (nothing sweeps stale PENDING inquiries).
def submit_request(tenant: str, request_key: str, inquiry: Inquiry) -> dict[str, Any]:
    """`submit` under a request key, safe to run again after an invocation died half-way.

    The inquiry id is noted under the request key before anything else is written. A run of the
    same request after a dead one (its idempotency record ran out while in progress) goes on
    with that inquiry: it stores it if it is missing, starts it if it is still PENDING (a start
    already made is "already exists") and otherwise answers with it, so one request is stored
    and executed once. An inquiry that could not be started (FAILED, ExecutionNotStarted) is
    not gone on with: that request is a new try.
    """
    from cptverify.aws import clients

    table = clients.table()
    marker = _submission_key(tenant, request_key)
    now = int(time.time())
    held = table.get_item(Key=marker, ConsistentRead=True).get("Item")
    if held and int(held.get("expires_at", 0)) > now:
        inquiry_id = str(held["inquiry_id"])
        item = store.get_inquiry(tenant, inquiry_id)
        if item is None:
            return submit(tenant, inquiry, inquiry_id=inquiry_id)
        reason = item.get("reason") or {}
        if item["status"] == lifecycle.PENDING:
            _start(tenant, inquiry_id, str(item.get("mode", "realtime")), again=True)
            logger.info("inquiry submission resumed", extra={"inquiry_id": inquiry_id})
            return {"inquiry_id": inquiry_id, "status": lifecycle.PENDING}
        if reason.get("error") != NOT_STARTED:
            return {"inquiry_id": inquiry_id, "status": item["status"]}
    inquiry_id = new_inquiry_id()
    table.put_item(
        Item={**marker, "inquiry_id": inquiry_id, "expires_at": now + SUBMISSION_SECONDS}
    )
    return submit(tenant, inquiry, inquiry_id=inquiry_id)


def status_of(tenant: str, inquiry_id: str) -> str | None:
    """The inquiry's status now, or None when it is gone (expired)."""
    item = store.get_inquiry(tenant, inquiry_id)
    return None if item is None else str(item["status"])


def view(tenant: str, inquiry_id: str) -> dict[str, Any]:
    """Status, attempts and, once finished, the per-CPT results of one inquiry."""
    item = store.get_inquiry(tenant, inquiry_id)
    if item is None:
        raise NotFound("inquiry not found")
    out: dict[str, Any] = {
        "inquiry_id": inquiry_id,
        "status": item["status"],
        "claim_id": item["claim_id"],
        "payer_id": item["payer_id"],
        "mode": item.get("mode", "realtime"),
        "attempts": int(item.get("attempts", 0)),
        "payer_calls": int(item.get("payer_calls", 0)),
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
        "finished_at": item.get("finished_at"),
        "reason": item.get("reason"),
        "rejections": item.get("rejections") or [],
        "resubmit_of": item.get("resubmit_of"),
        "resubmitted_as": item.get("resubmitted_as"),
        "results": [],
    }
    if item["status"] in (lifecycle.COMPLETED, lifecycle.REJECTED):
        out["results"] = store.inquiry_results(tenant, inquiry_id)
    return out


# Limitation: `Prefer: wait` polls the table from the API function, so a waiting request holds
# (and bills) the function for up to 25 s.
def wait_for(
    tenant: str,
    inquiry_id: str,
    seconds: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """The inquiry's view once terminal, or as it stands after `seconds` (at most 25)."""
    deadline = clock() + min(max(seconds, 0.0), MAX_WAIT_SECONDS)
    while True:
        current = view(tenant, inquiry_id)
        if lifecycle.is_terminal(current["status"]) or clock() >= deadline:
            return current
        sleep(POLL_SECONDS)


def resubmit(tenant: str, inquiry_id: str, corrections: dict[str, Any]) -> dict[str, Any]:
    """A new attempt of a REJECTED inquiry with corrected patient fields, linked to the old one.

    `corrections` may hold `subscriber` and `dependent` objects with `member_id`, `first_name`,
    `last_name`, `birth_date`. Raises `Conflict` unless the inquiry is REJECTED and not yet
    resubmitted, and `pydantic.ValidationError` when the corrected inquiry does not validate.
    """
    item = store.get_inquiry(tenant, inquiry_id)
    if item is None:
        raise NotFound("inquiry not found")
    if item["status"] != lifecycle.REJECTED:
        raise Conflict(f"inquiry {inquiry_id} is {item['status']}; only REJECTED is resubmitted")
    if item.get("resubmitted_as"):
        raise Conflict(f"inquiry {inquiry_id} was already resubmitted")
    data = load_request_data(tenant, inquiry_id)
    for part in ("subscriber", "dependent"):
        fields = corrections.get(part)
        if fields:
            if not isinstance(data.get(part), dict):
                raise Conflict(f"inquiry {inquiry_id} has no {part} to correct")
            data[part] = {**data[part], **fields}
    corrected = Inquiry.model_validate(data)
    new_id = new_inquiry_id()
    # Limitation: the link is written before the new inquiry; if storing or starting it then
    # fails, the old inquiry names an id that does not exist and cannot be resubmitted again.
    if not store.link_resubmission(tenant, inquiry_id, new_id):
        raise Conflict(f"inquiry {inquiry_id} was already resubmitted")
    mode = item.get("mode", "realtime")
    return submit(tenant, corrected, mode=mode, resubmit_of=inquiry_id, inquiry_id=new_id)


def claim_procedures(tenant: str, claim_id: str, code: str | None = None) -> list[dict[str, Any]]:
    """The stored per-CPT results of one of the tenant's claims (`NotFound` when none)."""
    results = store.claim_results(tenant, claim_id, code)
    if not results:
        # The ids came from the caller's path: the answer does not repeat them.
        raise NotFound("claim procedure not found" if code else "claim not found")
    return results
