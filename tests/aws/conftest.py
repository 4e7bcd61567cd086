"""Fixtures of the serverless tests: the moto stack from template.yaml, the payer simulator
behind a scripted fault plan, canary patient data, and API Gateway events from `events/`."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cptverify_local.harness import PROJECT_ROOT, AwsStack

PLAN_BOOK = Path(__file__).resolve().parent.parent / "fixtures" / "aws" / "plan-book.yaml"
EVENTS_DIR = PROJECT_ROOT / "events"
CANARIES = ("CANARYLAST", "CANARYFIRST", "CANARYMEMBER123", "19010203", "1901-02-03")


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def inquiry_body(**changes: Any) -> dict[str, Any]:
    """The canary inquiry of `events/inquiry_api/post_inquiry.json`, dated today."""
    body: dict[str, Any] = json.loads(load_event("inquiry_api/post_inquiry.json")["body"])
    body["date_of_service"] = today()
    body.update(changes)
    return body


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return event


def api_event(
    name: str,
    *,
    body: Any = None,
    path_parameters: dict[str, str] | None = None,
    headers: dict[str, str | None] | None = None,
    query: dict[str, list[str]] | None = None,
    api_key_id: str | None = "local-key-id",
) -> dict[str, Any]:
    """An event file with changes: body (dict -> JSON), path ids, headers (None removes)."""
    event = copy.deepcopy(load_event(f"inquiry_api/{name}"))
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    if path_parameters is not None:
        event["pathParameters"] = path_parameters
        path = event["resource"]
        for key, value in path_parameters.items():
            path = path.replace("{" + key + "}", value)
        event["path"] = path
    for key, header in (headers or {}).items():
        if header is None:
            event["headers"].pop(key, None)
            event["multiValueHeaders"].pop(key, None)
        else:
            event["headers"][key] = header
            event["multiValueHeaders"][key] = [header]
    if query is not None:
        event["multiValueQueryStringParameters"] = query or None
        event["queryStringParameters"] = {k: v[-1] for k, v in query.items()} or None
    event["requestContext"]["identity"]["apiKeyId"] = api_key_id
    return event


@pytest.fixture
def stack() -> Iterator[AwsStack]:
    with AwsStack() as aws:
        yield aws


@dataclass
class PayerScript:
    """What the payer does on each call: None (answer), a simulator fault name, or an error."""

    plan: list[Any] = field(default_factory=list)
    calls: int = 0
    real: dict[str, Any] = field(default_factory=dict)

    def connector_for(self, payer_id: str) -> Any:
        from cptverify.payers.connector import get_connector

        self.real.setdefault(payer_id, get_connector(payer_id))
        return self

    def send(self, x12_270: str, *, expected_traces: list[str] | None = None) -> Any:
        from cptverify_local.simulator import FAULT_HEADER

        self.calls += 1
        action = self.plan.pop(0) if self.plan else None
        if isinstance(action, Exception):
            raise action
        connector = next(iter(self.real.values()))
        headers = {FAULT_HEADER: action} if action else None
        return connector.send(x12_270, expected_traces=expected_traces, headers=headers)


@pytest.fixture
def payer(stack: AwsStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[PayerScript]:
    from cptverify.payers import connector, registry
    from cptverify.service import steps
    from cptverify_local.simulator import running_simulator

    with running_simulator(PLAN_BOOK) as simulator:
        monkeypatch.setenv("CPTVERIFY_PAYER_BASE_URL", simulator.url)
        registry.load_registry.cache_clear()
        connector.reset_connectors()
        script = PayerScript()
        monkeypatch.setattr(steps, "_connector", script.connector_for)
        try:
            yield script
        finally:
            stack.wait_all()
            for one in script.real.values():
                one.close()
            connector.reset_connectors()
            registry.load_registry.cache_clear()


def submit(stack: AwsStack, body: dict[str, Any], mode: str = "realtime") -> str:
    """Store an inquiry and start its execution the way the API does; the inquiry id."""
    from cptverify.inquiry import Inquiry
    from cptverify.service import inquiries

    inquiry = Inquiry.model_validate(body)
    accepted = inquiries.submit("local", inquiry, mode=mode)  # type: ignore[arg-type]
    return str(accepted["inquiry_id"])


def execution_of(stack: AwsStack, inquiry_id: str) -> dict[str, Any]:
    arn = next(e["executionArn"] for e in stack.executions() if e["name"] == inquiry_id)
    return stack.wait_execution(arn)
