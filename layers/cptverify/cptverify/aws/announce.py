"""EventBridge: one `InquiryFinished` event per finished inquiry, ids and statuses only."""

from __future__ import annotations

import json
from typing import Any

from cptverify.aws import clients
from cptverify.aws.settings import settings

SOURCE = "cptverify"
INQUIRY_FINISHED = "InquiryFinished"


def publish(detail_type: str, detail: dict[str, Any]) -> None:
    """Put one event on the bus; raises when EventBridge reports the entry failed."""
    response = clients.events().put_events(
        Entries=[
            {
                "Source": SOURCE,
                "DetailType": detail_type,
                "Detail": json.dumps(detail, separators=(",", ":")),
                "EventBusName": settings().event_bus_name,
            }
        ]
    )
    if response.get("FailedEntryCount"):
        raise RuntimeError("event bus refused the event")
