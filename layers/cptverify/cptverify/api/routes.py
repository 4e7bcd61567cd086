"""Routes of the partner API (Powertools REST resolver with validation).

Each route reads the caller's tenant (bound to its API key), calls one service function and
shapes the answer. Every request is written to the audit log: tenant, route, method, status and
the ids in the path; never a body, a query value that could be patient data, or a header value.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from functools import cache
from http import HTTPStatus
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from cptverify.api import errors
from cptverify.api.models import (
    BatchView,
    ClaimProcedures,
    ErrorBody,
    InquiryAccepted,
    InquiryView,
    Resubmission,
)
from cptverify.inquiry import Inquiry
from cptverify.service import errors as service_errors

API_TITLE = "cptverify partner API"
API_VERSION = "1.0.0"
MAX_JSON_BODY_BYTES = 64 * 1024
MAX_X12_BODY_BYTES = 1024 * 1024
# A 1 MB 271 can read as 13 MB of JSON; Lambda's answer limit is 6 MB, escaping included.
MAX_ANSWER_BYTES = 4 * 1024 * 1024
TENANT_CACHE_SECONDS = 300
PREFER_WAIT_RE = re.compile(r"(?:^|[;,\s])wait\s*=\s*(\d{1,3})(?:$|[;,\s])")
ID_PATTERN = r"^[A-Za-z0-9._\-]{1,64}$"
CPT_PATTERN = r"^[A-Z0-9]{5}$"
# A CPT (5 digits, or 4 and F, T or U), HCPCS or CDT code (a letter and 4 digits), as inquiries
# take them, optionally after its qualifier and with up to four modifiers (HC:99213:25).
PROCEDURE_QUERY_PATTERN = (
    r"^(?:(?:HC|AD):)?(?:[0-9]{4}[0-9FTU]|[A-Z][0-9]{4})(?::[A-Z0-9]{2}){0,4}$"
)

app = APIGatewayRestResolver(enable_validation=True)
audit = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "cptverify") + "-audit")
errors.register(app)

_tenant_cache: dict[str, tuple[str, float]] = {}

ERROR_RESPONSES: dict[int, Any] = {
    code: {"description": text, "content": {"application/json": {"model": ErrorBody}}}
    for code, text in (
        (401, "No API key identity in the event (only when invoked without API Gateway)"),
        (403, "No or unknown API key (API Gateway answers), or a key bound to no tenant"),
        (413, "Body too large"),
        (422, "Invalid request; `fields` names each field"),
    )
}


def _tenant_of(api_key_id: str) -> str | None:
    from cptverify.aws import store

    hit = _tenant_cache.get(api_key_id)
    if hit and hit[1] > time.monotonic():
        return hit[0]
    tenant = store.tenant_for_api_key(api_key_id)
    if tenant:
        _tenant_cache[api_key_id] = (tenant, time.monotonic() + TENANT_CACHE_SECONDS)
    return tenant


def _body_limit(resource: str) -> int:
    return MAX_X12_BODY_BYTES if resource == "/v1/responses" else MAX_JSON_BODY_BYTES


def _body_size(event: Any) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    return len(body.encode("utf-8")) if isinstance(body, str) else len(body)


def serve(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Authenticate (API key -> tenant), bound the body size, route, and write the audit record.

    The checks run before the resolver so that a missing key is 401 and an oversized body 413
    whatever the body holds (the resolver validates bodies before any middleware).
    """
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

    request = APIGatewayProxyEvent(event)
    # Read defensively: an event without requestContext or identity is a caller without a key.
    context_part = event.get("requestContext") or {}
    api_key_id = (context_part.get("identity") or {}).get("apiKeyId")
    route = request.resource
    tenant: str | None = None
    try:
        if not api_key_id or not isinstance(api_key_id, str):
            raise service_errors.Unauthenticated("an API key is required (x-api-key header)")
        tenant = _tenant_of(api_key_id)
        if tenant is None:
            raise service_errors.Forbidden("this API key is not bound to a tenant")
        if _body_size(event) > _body_limit(route):
            raise service_errors.PayloadTooLarge(
                f"body larger than {_body_limit(route)} bytes for {route}"
            )
    except service_errors.ServiceError as exc:
        status_code, code = errors.STATUS_BY_ERROR[type(exc)]
        response = errors.error_proxy_result(status_code, code, str(exc))
    else:
        app.append_context(tenant=tenant)
        response = app.resolve(event, context)
    audit.info(
        "api access",
        extra={
            "audit": True,
            "tenant": tenant,
            "api_key_id": api_key_id,
            "method": request.http_method,
            "route": route,
            "status": response.get("statusCode"),
            "request_id": context_part.get("requestId"),
            "ids": dict(request.path_parameters or {}),
        },
    )
    return response


def _tenant() -> str:
    return str(app.context["tenant"])


def _links(inquiry_id: str, claim_id: str) -> dict[str, str]:
    return {
        "self": f"/v1/inquiries/{inquiry_id}",
        "claim_procedures": f"/v1/claims/{claim_id}/procedures",
    }


def _prefer_wait() -> int | None:
    prefer = app.current_event.headers.get("Prefer")
    if not prefer:
        return None
    found = PREFER_WAIT_RE.search(prefer.lower())
    if not found:
        return None
    return min(int(found.group(1)), 25)


@cache
def _idempotent_submit() -> Any:
    """`submit` wrapped in Powertools Idempotency (built on first use, off the cold path)."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    from cptverify.aws.keys import IDEMPOTENCY_PK
    from cptverify.aws.settings import settings
    from cptverify.service import inquiries

    store = DynamoDBPersistenceLayer(
        table_name=settings().table_name,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value=IDEMPOTENCY_PK,
        expiry_attr="expires_at",
    )
    config = IdempotencyConfig(
        event_key_jmespath="[tenant, key]",
        payload_validation_jmespath="body_hash",
        expires_after_seconds=24 * 3600,
        raise_on_no_idempotency_key=True,
    )

    @idempotent_function(data_keyword_argument="request", persistence_store=store, config=config)
    def submit_once(request: dict[str, str], inquiry: Inquiry) -> dict[str, Any]:
        accepted = inquiries.submit_request(request["tenant"], request["key"], inquiry)
        _created.append(accepted["inquiry_id"])
        return accepted

    return submit_once, config


# Inquiries the idempotent submit created during this request (a repeat creates none).
_created: list[str] = []
# How many FAILED inquiries of one body a POST without an Idempotency-Key walks past.
MAX_TRIES_AFTER_FAILURE = 10

_lambda_context: list[Any] = []


def bind_lambda_context(context: Any) -> None:
    """Keep the Lambda context for Idempotency (it watches the remaining time)."""
    _lambda_context[:] = [context] if context is not None else []


@app.post(
    "/v1/inquiries",
    summary="Submit an inquiry",
    description=(
        "Stores the inquiry and starts its verification. Repeating a request with the same "
        "Idempotency-Key (or, without one, the same body) returns the same inquiry. With "
        "`Prefer: wait=N` (N <= 25) the answer waits up to N seconds and is 200 with the "
        "results when they are ready."
    ),
    responses={
        200: {
            "description": "Finished within the wait",
            "content": {"application/json": {"model": InquiryView}},
        },
        202: {
            "description": "Accepted",
            "content": {"application/json": {"model": InquiryAccepted}},
        },
        409: {
            "description": "Idempotency-Key reused with another body",
            "content": {"application/json": {"model": ErrorBody}},
        },
        **ERROR_RESPONSES,
    },
)
def post_inquiry(inquiry: Inquiry) -> Response[Any]:
    from cptverify.service import inquiries

    tenant = _tenant()
    body_hash = hashlib.sha256(inquiry.model_dump_json().encode()).hexdigest()
    key = app.current_event.headers.get("Idempotency-Key")
    if key is not None and not re.fullmatch(r"[A-Za-z0-9._:\-]{1,128}", key):
        raise service_errors.InvalidInput(
            "Idempotency-Key must be 1 to 128 letters, digits or . _ : -",
            "header.Idempotency-Key",
        )
    inquiries.check_payer(inquiry.payer.id)
    submit_once, config = _idempotent_submit()
    if _lambda_context:
        config.register_lambda_context(_lambda_context[0])
    request = {"tenant": tenant, "key": key or body_hash, "body_hash": body_hash}
    for _ in range(MAX_TRIES_AFTER_FAILURE):
        _created.clear()
        accepted = submit_once(request=request, inquiry=inquiry)
        if accepted["inquiry_id"] in _created:
            break
        # A repeat of an earlier submission: answered with that inquiry's status now.
        status = inquiries.status_of(tenant, accepted["inquiry_id"])
        accepted = {**accepted, "status": status or "FAILED"}
        if status is not None and (status != "FAILED" or key is not None):
            break
        # Without an Idempotency-Key, the same body after a FAILED inquiry is a new try; so is
        # any repeat of an inquiry that is gone (expired), key or not. Its key names the earlier
        # inquiry, so repeating the new try finds the new inquiry.
        request = {**request, "key": f"{key or body_hash}:after:{accepted['inquiry_id']}"}
    inquiry_id = accepted["inquiry_id"]
    wait = _prefer_wait()
    if wait:
        current = inquiries.wait_for(tenant, inquiry_id, wait)
        if current["status"] in ("COMPLETED", "REJECTED", "FAILED"):
            body = {**current, "links": _links(inquiry_id, inquiry.claim_id)}
            return Response(
                status_code=200,
                content_type=content_types.APPLICATION_JSON,
                body=InquiryView.model_validate(body).model_dump(mode="json", by_alias=True),
                headers={"Preference-Applied": f"wait={wait}"},
            )
    body = {**accepted, "links": _links(inquiry_id, inquiry.claim_id)}
    return Response(
        status_code=int(HTTPStatus.ACCEPTED),
        content_type=content_types.APPLICATION_JSON,
        body=InquiryAccepted.model_validate(body).model_dump(mode="json", by_alias=True),
        headers={"Location": f"/v1/inquiries/{inquiry_id}"},
    )


@app.get(
    "/v1/inquiries/<id>",
    summary="Read an inquiry",
    responses={
        200: {
            "description": "The inquiry",
            "content": {"application/json": {"model": InquiryView}},
        },
        404: {
            "description": "No such inquiry for this tenant",
            "content": {"application/json": {"model": ErrorBody}},
        },
        **ERROR_RESPONSES,
    },
)
def get_inquiry(id: Annotated[str, Path(pattern=ID_PATTERN)]) -> dict[str, Any]:  # noqa: A002
    from cptverify.service import inquiries

    current = inquiries.view(_tenant(), id)
    body = {**current, "links": _links(id, current["claim_id"])}
    return InquiryView.model_validate(body).model_dump(mode="json", by_alias=True)


@app.post(
    "/v1/inquiries/<id>/resubmit",
    summary="Resubmit a rejected inquiry with corrected patient fields",
    responses={
        202: {
            "description": "The new attempt",
            "content": {"application/json": {"model": InquiryAccepted}},
        },
        404: {
            "description": "No such inquiry",
            "content": {"application/json": {"model": ErrorBody}},
        },
        409: {
            "description": "Not REJECTED, or already resubmitted",
            "content": {"application/json": {"model": ErrorBody}},
        },
        **ERROR_RESPONSES,
    },
)
def resubmit_inquiry(
    id: Annotated[str, Path(pattern=ID_PATTERN)],  # noqa: A002
    corrections: Resubmission,
) -> Response[Any]:
    from cptverify.service import inquiries

    tenant = _tenant()
    accepted = inquiries.resubmit(
        tenant, id, corrections.model_dump(mode="json", exclude_none=True)
    )
    current = inquiries.view(tenant, accepted["inquiry_id"])
    body = {**accepted, "links": _links(accepted["inquiry_id"], current["claim_id"])}
    return Response(
        status_code=int(HTTPStatus.ACCEPTED),
        content_type=content_types.APPLICATION_JSON,
        body=InquiryAccepted.model_validate(body).model_dump(mode="json", by_alias=True),
    )


@app.get(
    "/v1/claims/<claim_id>/procedures",
    summary="Per-CPT results of a claim",
    responses={
        200: {
            "description": "Results",
            "content": {"application/json": {"model": ClaimProcedures}},
        },
        404: {
            "description": "No results for this claim",
            "content": {"application/json": {"model": ErrorBody}},
        },
        **ERROR_RESPONSES,
    },
)
def get_claim_procedures(claim_id: Annotated[str, Path(pattern=ID_PATTERN)]) -> dict[str, Any]:
    from cptverify.service import inquiries

    return {"claim_id": claim_id, "procedures": inquiries.claim_procedures(_tenant(), claim_id)}


@app.get(
    "/v1/claims/<claim_id>/procedures/<cpt>",
    summary="Results of one procedure code on a claim (every line and modifier set)",
    responses={
        200: {
            "description": "Results",
            "content": {"application/json": {"model": ClaimProcedures}},
        },
        404: {
            "description": "No result for this code",
            "content": {"application/json": {"model": ErrorBody}},
        },
        **ERROR_RESPONSES,
    },
)
def get_claim_procedure(
    claim_id: Annotated[str, Path(pattern=ID_PATTERN)],
    cpt: Annotated[str, Path(pattern=CPT_PATTERN)],
) -> dict[str, Any]:
    from cptverify.service import inquiries

    results = inquiries.claim_procedures(_tenant(), claim_id, cpt)
    return {"claim_id": claim_id, "procedures": results}


@app.get(
    "/v1/batches/<id>",
    summary="Progress and reports of a schedule batch",
    responses={
        200: {
            "description": "Status, counts, ignored columns and report locations of the batch",
            "content": {"application/json": {"model": BatchView}},
        },
        404: {
            "description": "No such batch for this tenant",
            "content": {"application/json": {"model": ErrorBody}},
        },
        **ERROR_RESPONSES,
    },
)
def get_batch(id: Annotated[str, Path(pattern=ID_PATTERN)]) -> dict[str, Any]:  # noqa: A002
    from cptverify.schedules.progress import batch_view

    view = batch_view(_tenant(), id)
    if view is None:
        raise service_errors.NotFound("batch not found")
    return BatchView.model_validate(view).model_dump(mode="json", by_alias=True)


@app.post(
    "/v1/responses",
    summary="Parse a 271 you already hold",
    description=(
        "The body is the raw X12 271. Each `cpt` query parameter (repeatable; `99213`, "
        "`97110:GP`, `AD:D0120`) is resolved per patient; the answer is the JSON of "
        "`cptverify parse --json`."
    ),
    responses={
        200: {"description": "The 271 as JSON with per-CPT procedures"},
        **ERROR_RESPONSES,
    },
)
def post_response(
    cpt: Annotated[
        list[Annotated[str, Query(pattern=PROCEDURE_QUERY_PATTERN)]],
        Query(max_length=99),
    ] = [],  # noqa: B006 - Powertools reads the default, never mutates it
    network: Annotated[Literal["in", "out", "unknown"], Query()] = "unknown",
) -> dict[str, Any]:
    from cptverify.service.responses import parse_271

    event = app.current_event
    raw = event.get("body") or ""
    data: str | bytes = base64.b64decode(raw) if event.get("isBase64Encoded") else raw
    if not data:
        raise service_errors.InvalidInput("the body must be an X12 271", "body")
    answer = parse_271(data, cpt, network=network)
    if len(json.dumps(answer, default=str)) > MAX_ANSWER_BYTES:
        raise service_errors.PayloadTooLarge(
            f"the JSON of this 271 would be larger than {MAX_ANSWER_BYTES} bytes (Lambda answers "
            "at most 6 MB); send a 271 with fewer patients"
        )
    return answer


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of these routes (committed as docs/openapi.json)."""
    import json

    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

    text = app.get_openapi_json_schema(
        title=API_TITLE,
        version=API_VERSION,
        description="Per-CPT insurance benefit verification over X12 270/271.",
        security_schemes={"apiKey": APIKey(name="x-api-key", in_=APIKeyIn.header)},
        security=[{"apiKey": []}],
    )
    document: dict[str, Any] = json.loads(text)
    return document
