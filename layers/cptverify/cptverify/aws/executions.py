"""Starting inquiry executions: the input is ids only, the name is the inquiry id."""

from __future__ import annotations

import json

from cptverify.aws import clients
from cptverify.aws.settings import settings


def start(tenant: str, inquiry_id: str, mode: str) -> str:
    """Start the inquiry state machine; a second start for the same id is refused by AWS."""
    response = clients.stepfunctions().start_execution(
        stateMachineArn=settings().state_machine_arn,
        name=inquiry_id,
        input=json.dumps({"tenant": tenant, "inquiry_id": inquiry_id, "mode": mode}),
    )
    return str(response["executionArn"])
