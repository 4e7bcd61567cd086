"""The payer simulator on a free loopback port, and helpers to build 270s for plan-book members."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from cptverify.inquiry import Inquiry
from cptverify.payers.connector import PayerConnector
from cptverify.payers.metrics import MemoryPayerMetrics
from cptverify.payers.registry import PayerConfig, get_payer
from cptverify.x12.builder270 import EnvelopeConfig, PayerCapabilities, build_270
from cptverify_local.simulator import SimulatorServer, running_simulator
from cptverify_local.simulator.planbook import PlanBook, load_plan_book

KNOWN_NPI = "1234567893"


@pytest.fixture(scope="session")
def plan_book() -> PlanBook:
    return load_plan_book()


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorServer]:
    """One simulator for the session (default plan book, fixed seed)."""
    with running_simulator(seed=7) as server:
        yield server


def inquiry_for(
    payer_id: str,
    member_id: str,
    first_name: str,
    last_name: str,
    birth_date: str | None,
    cpts: tuple[str, ...] = ("99213",),
    *,
    npi: str = KNOWN_NPI,
    dependent: dict[str, Any] | None = None,
    service_types: tuple[str, ...] = (),
) -> Inquiry:
    subscriber: dict[str, Any] = {
        "member_id": member_id,
        "first_name": first_name,
        "last_name": last_name,
    }
    if birth_date:
        subscriber["birth_date"] = birth_date
    body: dict[str, Any] = {
        "claim_id": "T-1",
        "date_of_service": date.today().isoformat(),
        "payer": {"id": payer_id, "name": "TEST PAYER"},
        "provider": {"npi": npi, "organization_name": "TEST CLINIC"},
        "subscriber": subscriber,
        "procedures": [{"code": c} for c in cpts],
        "service_types": list(service_types),
    }
    if dependent:
        body["dependent"] = dependent
    return Inquiry.model_validate(body)


def build_for(payer: PayerConfig, inquiry: Inquiry) -> tuple[str, str]:
    """(270 text, trace) for one inquiry, honouring the payer's registry capabilities."""
    caps = PayerCapabilities(
        accepts_procedure_codes=payer.accepts_procedure_codes,
        max_procedures_per_inquiry=payer.max_procedures_per_inquiry,
        accepts_gender=payer.accepts_gender,
    )
    envelope = EnvelopeConfig(sender_id=payer.sender_id, receiver_id=payer.receiver_id)
    built = build_270(inquiry, envelope, caps).interchanges[0]
    return built.x12, built.trace


def connector_for(simulator: SimulatorServer, payer_id: str, **overrides: Any) -> PayerConnector:
    payer = get_payer(payer_id)
    if overrides:
        payer = payer.model_copy(update=overrides)
    return PayerConnector(payer, base_url=simulator.url, metrics=MemoryPayerMetrics())
