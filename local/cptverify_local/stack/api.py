"""The partner API of the embedded stack: the template's routes plus a local schedule upload.

Keys are checked as the usage plan would: the local key maps to its key id, which the API
function maps to its tenant through the table (as on AWS). Two routes have no AWS counterpart:
- `PUT /local/schedules/{name}`: on AWS a schedule is dropped in the bucket under
  `schedules/TENANT/`; here it is stored there for the caller's tenant, which fires the same
  ingest function.
- `GET /local/archive/{key+}`: an object under `results/<caller's tenant>/` (the batch reports).
  On AWS the batch view links presigned S3 URLs; the moto endpoint they name cannot be reached,
  so the locally served batch view links this route instead.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from cptverify.api.models import ErrorBody, FieldError
from cptverify_local.stack.embedded import LocalStack
from cptverify_local.stack.http_api import (
    ApiKeyIdentity,
    LocalApi,
    ProxyEvent,
    ProxyResult,
    Route,
    routes_from_template,
)

UPLOAD_ROUTE = Route("PUT", "/local/schedules/{name}", "LocalScheduleUpload")
ARCHIVE_ROUTE = Route("GET", "/local/archive/{key+}", "LocalArchiveObject")
BATCH_RESOURCE = "/v1/batches/{id}"
ARCHIVE_PREFIX = "/local/archive/"
MAX_NAME = 200
CONTENT_TYPES = {".csv": "text/csv", ".json": "application/json"}


def _json(status: int, body: dict[str, Any]) -> ProxyResult:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def _error(status: int, code: str, message: str, field: str, rule: str) -> ProxyResult:
    """An error answer in the shape of every API error (`ErrorBody`)."""
    body = ErrorBody(error=code, message=message, fields=[FieldError(field=field, rule=rule)])
    return _json(status, body.model_dump(mode="json"))


def archive_url(host: str, key: str) -> str:
    """Where the local server serves the archive object `key` (see `ARCHIVE_ROUTE`)."""
    return f"http://{host}{ARCHIVE_PREFIX}{quote(key)}"


def local_batch_view(result: ProxyResult, host: str) -> ProxyResult:
    """A batch view whose report URLs point at the local archive route instead of presigned
    URLs of the (unreachable) moto S3 endpoint; any other answer as it is."""
    if result.get("statusCode") != 200 or result.get("isBase64Encoded"):
        return result
    try:
        view = json.loads(result.get("body") or "")
    except ValueError:
        return result
    reports = view.get("reports") if isinstance(view, dict) else None
    if not isinstance(reports, dict):
        return result
    for report in reports.values():
        if isinstance(report, dict) and report.get("key"):
            report["url"] = archive_url(host, str(report["key"]))
    return {**result, "body": json.dumps(view)}


def _key_problem(key: str, tenant: str) -> str | None:
    """Why `key` may not be served to `tenant`, or None. Only `results/<tenant>/...`."""
    segments = key.split("/")
    if "\\" in key or "\x00" in key or any(s in ("", ".", "..") for s in segments):
        return "must be an object key without empty, '.' or '..' segments"
    if len(segments) < 3 or segments[0] != "results" or segments[1] != tenant:
        return "outside results/<your tenant>/"
    return None


def build_local_api(stack: LocalStack) -> LocalApi:
    """Routes from the stack's template, its local key, and the local-only routes: schedule
    upload and report download."""
    known = {stack.api_key: ApiKeyIdentity(stack.api_key_id, stack.api_key, stack.tenant)}

    def upload(event: ProxyEvent, identity: ApiKeyIdentity | None) -> ProxyResult:
        name = (event.get("pathParameters") or {}).get("name", "")
        if not name or len(name) > MAX_NAME or name.startswith(".") or "\\" in name:
            return _error(
                400,
                "bad_request",
                "invalid schedule name",
                "path.name",
                f"1 to {MAX_NAME} characters, not starting with '.', without '\\' or '/'",
            )
        raw = event.get("body") or ""
        body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
        if not body:
            return _error(400, "bad_request", "empty schedule", "body", "must be a schedule CSV")
        tenant = identity.tenant_id if identity else stack.tenant
        stored = stack.upload_schedule(name, body, tenant=tenant)
        return _json(
            201,
            {
                "key": stored.key,
                "version": stored.version,
                "batch_id": stored.batch_id,
                "links": {"batch": f"/v1/batches/{stored.batch_id}"},
            },
        )

    # Limitation: a report is read whole and sent base64-encoded in one answer (fine for the
    # local stack's reports; a report of hundreds of MB would be slow and memory-bound).
    def archive(event: ProxyEvent, identity: ApiKeyIdentity | None) -> ProxyResult:
        key = (event.get("pathParameters") or {}).get("key", "")
        tenant = identity.tenant_id if identity else ""
        problem = _key_problem(key, tenant)
        if problem is not None:
            # Another tenant's key and a key that exists nowhere get the same answer.
            return _error(404, "not_found", "no such report", "path.key", problem)
        try:
            data = stack.get_object(key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return _error(404, "not_found", "no such report", "path.key", "no such object")
            raise
        suffix = key[key.rfind(".") :] if "." in key else ""
        return {
            "statusCode": 200,
            "headers": {"Content-Type": CONTENT_TYPES.get(suffix, "application/octet-stream")},
            "body": base64.b64encode(data).decode("ascii"),
            "isBase64Encoded": True,
        }

    def invoke(function: str, event: ProxyEvent) -> ProxyResult:
        result = stack.aws.invoke(function, event)
        if event.get("resource") == BATCH_RESOURCE and event.get("httpMethod") == "GET":
            host = str(event["requestContext"].get("domainName") or "127.0.0.1:3000")
            return local_batch_view(result, host)
        return result

    # Limitation: API requests run the handler beside the state machine's serialised handler
    # runs (as the harness's tests do), relying on moto tolerating that overlap.
    return LocalApi(
        routes=routes_from_template(stack.aws.template),
        invoke=invoke,
        keys=known.get,
        stage=str(stack.aws.parameters.get("Stage", "local")),
        local_routes={UPLOAD_ROUTE: upload, ARCHIVE_ROUTE: archive},
    )
