"""Keeping an inquiry's request (patient data) in the encrypted archive, never in the table."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from cptverify.aws import archive
from cptverify.inquiry import Inquiry
from cptverify.service.errors import InquiryInvalid


def save_request(tenant: str, inquiry_id: str, inquiry: Inquiry) -> None:
    body = inquiry.model_dump_json(exclude_none=True)
    archive.put_text(archive.request_key(tenant, inquiry_id), body, "application/json")


def load_request_data(
    tenant: str, inquiry_id: str, item: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The stored request as JSON data; `item` (the inquiry item, when the caller already holds
    it) saves re-reading a schedule inquiry's `request_ref`."""
    from cptverify.schedules.requests import batch_request_text, request_text_at

    if item is not None and item.get("request_ref"):
        text: str | None = request_text_at(item["request_ref"])
    else:
        text = batch_request_text(tenant, inquiry_id)  # schedule inquiries share one object
    data = json.loads(text or archive.get_text(archive.request_key(tenant, inquiry_id)))
    if not isinstance(data, dict):
        raise InquiryInvalid(f"inquiry {inquiry_id}: stored request is not an object")
    return data


def load_request(tenant: str, inquiry_id: str, item: dict[str, Any] | None = None) -> Inquiry:
    """The inquiry as submitted; `InquiryInvalid` (no values) when it no longer validates."""
    data = load_request_data(tenant, inquiry_id, item)
    try:
        return Inquiry.model_validate(data)
    except ValidationError:
        raise InquiryInvalid(f"inquiry {inquiry_id}: stored request does not validate") from None
