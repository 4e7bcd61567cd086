"""A batch's inquiry requests, kept together in one archive object (JSON lines).

An API inquiry keeps its request at `inquiries/<tenant>/<id>/request.json`. A schedule makes
thousands of inquiries at once, so their requests go into one object per batch,
`inquiries/<tenant>/batches/<batch id>/requests.jsonl`, and each inquiry item names its byte
range (`request_ref`). One PUT per upload instead of one per inquiry keeps a 10,000-row ingest
within a single invocation; a step reads its request back with a ranged GET.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

from cptverify.aws import clients, keys
from cptverify.aws.settings import settings

BATCH_INQUIRY_ID = re.compile(r"^b[0-9a-f]{23}-\d{5}$")


def requests_key(tenant: str, batch_id: str) -> str:
    return f"inquiries/{tenant}/batches/{batch_id}/requests.jsonl"


class RequestBundle:
    """Collects request bodies; `add` returns the byte range each one will occupy."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._buffer = io.BytesIO()

    def add(self, body: dict[str, Any]) -> dict[str, str]:
        data = json.dumps(body, separators=(",", ":")).encode() + b"\n"
        start = self._buffer.tell()
        self._buffer.write(data)
        return {"key": self.key, "range": f"bytes={start}-{start + len(data) - 2}"}

    def __len__(self) -> int:
        return self._buffer.tell()

    def stream(self) -> io.BytesIO:
        """The collected lines as a readable stream (no copy)."""
        self._buffer.seek(0)
        return self._buffer

    def close(self) -> None:
        self._buffer = io.BytesIO()


def batch_request_text(tenant: str, inquiry_id: str) -> str | None:
    """The stored request of a schedule inquiry, or None when `inquiry_id` is not one."""
    if not BATCH_INQUIRY_ID.match(inquiry_id):
        return None
    item = (
        clients.table()
        .get_item(
            Key={"pk": keys.inquiry_pk(tenant, inquiry_id), "sk": keys.INQUIRY_SK},
            ConsistentRead=True,
            ProjectionExpression="request_ref",
        )
        .get("Item")
    )
    ref = (item or {}).get("request_ref")
    if not ref:
        return None
    return request_text_at(ref)


def request_text_at(ref: dict[str, Any]) -> str:
    """The request at an inquiry item's `request_ref` (one ranged GET)."""
    response = clients.s3().get_object(
        Bucket=settings().archive_bucket, Key=str(ref["key"]), Range=str(ref["range"])
    )
    return str(response["Body"].read().decode("utf-8"))
