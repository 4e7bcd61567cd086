"""The circuit breaker opens after N consecutive transport failures and closes again."""

from __future__ import annotations

import pytest

from cptverify.payers.circuit import CircuitBreaker, MemoryCircuitStore
from cptverify.payers.connector import FAULT_HEADER, PayerConnector
from cptverify.payers.errors import PayerRejected, PayerUnavailable
from cptverify.payers.metrics import MemoryPayerMetrics
from cptverify.payers.registry import CircuitSettings, get_payer
from cptverify_local.simulator import running_simulator
from tests.simulator.conftest import build_for, inquiry_for


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_states_with_injected_clock():
    clock = Clock()
    breaker = CircuitBreaker(
        "P", CircuitSettings(failure_threshold=2, open_seconds=10), MemoryCircuitStore(), clock
    )
    breaker.check()
    breaker.failure()
    assert breaker.status() == "closed"
    breaker.failure()
    assert breaker.status() == "open"
    with pytest.raises(PayerUnavailable) as info:
        breaker.check()
    assert info.value.code == "circuit_open" and info.value.least_delay_seconds == 10
    clock.now += 10.5
    assert breaker.status() == "half_open"
    breaker.check()
    breaker.failure()  # the trial call failed: open again at once
    assert breaker.status() == "open"
    clock.now += 11
    breaker.success()
    assert breaker.status() == "closed"


def test_connector_fails_fast_while_open_and_recovers(plan_book):
    clock = Clock()
    store = MemoryCircuitStore()
    payer = get_payer("ACME").model_copy(
        update={"circuit": CircuitSettings(failure_threshold=3, open_seconds=30)}
    )
    member = plan_book.payers["ACME"].members[0]
    x12, _ = build_for(
        payer,
        inquiry_for(
            "ACME",
            member.member_id,
            member.first_name,
            member.last_name,
            member.birth_date.isoformat(),
        ),
    )
    with running_simulator() as sim:
        connector = PayerConnector(
            payer, base_url=sim.url, circuit_store=store, clock=clock, metrics=MemoryPayerMetrics()
        )
        with connector:
            for _ in range(3):
                with pytest.raises(PayerUnavailable) as info:
                    connector.send(x12, headers={FAULT_HEADER: "http_503"})
                assert info.value.code == "http_503"
            with pytest.raises(PayerUnavailable) as info:
                connector.send(x12)
            assert info.value.code == "circuit_open"
            assert sim.metrics()["payers"]["ACME"]["requests"] == 3, "open circuit calls nobody"

            clock.now += 31
            assert connector.send(x12).interchange is not None
            assert connector.circuit.status() == "closed"


def test_rejections_do_not_count_as_transport_failures(plan_book):
    payer = get_payer("ACME").model_copy(
        update={"circuit": CircuitSettings(failure_threshold=1, open_seconds=30)}
    )
    with running_simulator() as sim:
        connector = PayerConnector(payer, base_url=sim.url, metrics=MemoryPayerMetrics())
        member = plan_book.payers["ACME"].members[0]
        x12, _ = build_for(
            payer, inquiry_for("ACME", member.member_id, member.first_name, member.last_name, None)
        )
        with connector:
            with pytest.raises(PayerRejected):
                connector.send(x12, headers={FAULT_HEADER: "envelope_error"})
            assert connector.circuit.status() == "closed"
