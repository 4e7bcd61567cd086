"""The partner API of the embedded stack: the template's routes plus a local schedule upload.

Keys are checked as the usage plan would: the local key maps to its key id, which the API
function maps to its tenant through the table (as on AWS). `PUT /local/schedules/{name}` has no
AWS counterpart: on AWS a schedule is dropped in the bucket under `schedules/TENANT/`; here it
is stored there for the caller's tenant, which fires the same ingest function.
"""

from __future__ import annotations

import base64
import json
from typing import Any

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
MAX_NAME = 200


def _json(status: int, body: dict[str, Any]) -> ProxyResult:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def build_local_api(stack: LocalStack) -> LocalApi:
    """Routes from the stack's template, its local key, and the local upload route."""
    known = {stack.api_key: ApiKeyIdentity(stack.api_key_id, stack.api_key, stack.tenant)}

    def upload(event: ProxyEvent, identity: ApiKeyIdentity | None) -> ProxyResult:
        name = (event.get("pathParameters") or {}).get("name", "")
        if not name or len(name) > MAX_NAME or name.startswith(".") or "\\" in name:
            return _json(400, {"message": "invalid schedule name", "field": "name"})
        raw = event.get("body") or ""
        body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
        if not body:
            return _json(400, {"message": "empty schedule", "field": "body"})
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

    # Limitation: API requests run the handler beside the state machine's serialised handler
    # runs (as the harness's tests do), relying on moto tolerating that overlap.
    return LocalApi(
        routes=routes_from_template(stack.aws.template),
        invoke=stack.aws.invoke,
        keys=known.get,
        stage=str(stack.aws.parameters.get("Stage", "local")),
        local_routes={UPLOAD_ROUTE: upload},
    )
