"""CAQH CORE Phase II (rule vC2.2.0) real-time envelope fields, shared by both transports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

PAYLOAD_TYPE_270 = "X12_270_Request_005010X279A1"
PAYLOAD_TYPE_271 = "X12_271_Response_005010X279A1"
PROCESSING_MODE = "RealTime"
CORE_RULE_VERSION = "2.2.0"
SUCCESS = "Success"

REQUEST_FIELDS = (
    "PayloadType",
    "ProcessingMode",
    "PayloadID",
    "TimeStamp",
    "SenderID",
    "ReceiverID",
    "CORERuleVersion",
    "Payload",
)
RESPONSE_FIELDS = (*REQUEST_FIELDS, "ErrorCode", "ErrorMessage")


def core_timestamp(now: datetime | None = None) -> str:
    """CORE TimeStamp: an XML dateTime in UTC, e.g. 2026-12-03T16:20:00Z."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class CoreRequest:
    """A real-time request envelope. Username/password are the CORE credentials."""

    payload: str
    sender_id: str
    receiver_id: str
    username: str
    password: str
    payload_type: str = PAYLOAD_TYPE_270
    payload_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timestamp: str = field(default_factory=core_timestamp)
    processing_mode: str = PROCESSING_MODE
    core_rule_version: str = CORE_RULE_VERSION

    def fields(self) -> dict[str, str]:
        return {
            "PayloadType": self.payload_type,
            "ProcessingMode": self.processing_mode,
            "PayloadID": self.payload_id,
            "TimeStamp": self.timestamp,
            "SenderID": self.sender_id,
            "ReceiverID": self.receiver_id,
            "CORERuleVersion": self.core_rule_version,
            "Payload": self.payload,
        }


@dataclass(slots=True)
class CoreResponse:
    """A real-time response envelope as received (any field may be missing)."""

    fields: dict[str, str]

    def get(self, name: str) -> str | None:
        return self.fields.get(name)

    @property
    def payload(self) -> str | None:
        return self.fields.get("Payload")

    @property
    def payload_type(self) -> str | None:
        return self.fields.get("PayloadType")

    @property
    def payload_id(self) -> str | None:
        return self.fields.get("PayloadID")

    @property
    def error_code(self) -> str | None:
        return self.fields.get("ErrorCode")

    @property
    def error_message(self) -> str | None:
        return self.fields.get("ErrorMessage")


class EnvelopeError(ValueError):
    """The response envelope could not be read (message names the part, never the payload)."""
