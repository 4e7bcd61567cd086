"""Each injected fault maps to its outcome class, retry decision and least delay."""

from __future__ import annotations

import socket
import time

import pytest

from cptverify.payers.connector import FAULT_HEADER, PayerConnector
from cptverify.payers.errors import (
    PayerBusy,
    PayerError,
    PayerRejected,
    PayerTimeout,
    PayerUnavailable,
    ResponseInvalid,
)
from cptverify.payers.metrics import MemoryPayerMetrics
from cptverify.payers.registry import get_payer
from cptverify_local.simulator import running_simulator
from cptverify_local.simulator.server import HOLD_HEADER
from tests.simulator.conftest import build_for, connector_for, inquiry_for

CASES = [
    ("timeout", PayerTimeout, True, 90),
    ("http_500", PayerUnavailable, True, 30),
    ("http_503", PayerUnavailable, True, 5),
    ("http_429", PayerUnavailable, True, 5),
    ("aaa42", PayerBusy, True, 30),
    ("aaa80", PayerBusy, True, 300),
    ("truncated", ResponseInvalid, True, 30),
    ("non_x12", ResponseInvalid, True, 30),
    ("drop", PayerUnavailable, True, 30),
    ("envelope_error", PayerRejected, False, 0),
]


@pytest.fixture(scope="module")
def acme_270(plan_book) -> str:
    member = plan_book.payers["ACME"].members[0]
    inquiry = inquiry_for(
        "ACME", member.member_id, member.first_name, member.last_name, member.birth_date.isoformat()
    )
    return build_for(get_payer("ACME"), inquiry)[0]


@pytest.mark.parametrize("transport_payer", ["ACME", "BLUEPEAK"])
@pytest.mark.parametrize(("fault", "error", "retryable", "delay"), CASES)
def test_fault_maps_to_outcome(
    simulator, acme_270, transport_payer, fault, error, retryable, delay
):
    headers = {FAULT_HEADER: fault, HOLD_HEADER: "5"}
    with connector_for(simulator, transport_payer, read_timeout_seconds=0.3) as connector:
        started = time.monotonic()
        with pytest.raises(PayerError) as info:
            connector.send(acme_270.replace("ACME", transport_payer), headers=headers)
        elapsed = time.monotonic() - started
    exc = info.value
    assert type(exc) is error
    assert exc.retryable is retryable
    assert exc.least_delay_seconds == delay
    assert exc.payer_id == transport_payer
    assert elapsed < 3, "a fault must never hang the caller"


def test_slow_payer_gives_payer_timeout_not_a_hang(simulator, acme_270):
    from cptverify_local.simulator.server import LATENCY_HEADER

    with connector_for(simulator, "ACME", read_timeout_seconds=0.2) as connector:
        started = time.monotonic()
        with pytest.raises(PayerTimeout) as info:
            connector.send(acme_270, headers={LATENCY_HEADER: "1500"})
    assert time.monotonic() - started < 1.2
    assert info.value.least_delay_seconds == 90


def test_connection_refused_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    connector = PayerConnector(
        get_payer("ACME"), base_url=f"http://127.0.0.1:{port}", metrics=MemoryPayerMetrics()
    )
    with connector, pytest.raises(PayerUnavailable) as info:
        connector.send("ISA", expected_traces=[])
    assert info.value.code == "connect_error"


def test_down_for_first_requests_then_recovers(plan_book):
    member = plan_book.payers["FLAKY"].members[0]
    with running_simulator() as sim, connector_for(sim, "FLAKY") as connector:
        x12, _ = build_for(
            connector.payer,
            inquiry_for(
                "FLAKY",
                member.member_id,
                member.first_name,
                member.last_name,
                member.birth_date.isoformat(),
            ),
        )
        outcomes = []
        for _ in range(5):
            try:
                connector.exchange(x12)
                outcomes.append("answer")
            except PayerUnavailable as exc:
                outcomes.append(f"{exc.code}/{exc.least_delay_seconds:g}")
    assert outcomes == ["http_503/2"] * 3 + ["answer"] * 2


def test_trace_that_does_not_answer_our_270_is_invalid(simulator, acme_270):
    with connector_for(simulator, "ACME") as connector, pytest.raises(ResponseInvalid) as info:
        connector.send(acme_270, expected_traces=["SOMEOTHERTRACE"])
    assert info.value.code == "trn"


def test_bad_credentials_are_rejected_not_retried(simulator, acme_270):
    from cptverify.payers.credentials import Credentials

    connector = PayerConnector(
        get_payer("ACME"),
        base_url=simulator.url,
        credentials=Credentials("x", "y"),
        metrics=MemoryPayerMetrics(),
    )
    with connector, pytest.raises(PayerRejected) as info:
        connector.send(acme_270)
    assert info.value.retryable is False and info.value.http_status == 401


def test_outcomes_are_recorded_per_payer(simulator, acme_270):
    with connector_for(simulator, "ACME") as connector:
        connector.send(acme_270)
        with pytest.raises(PayerBusy):
            connector.send(acme_270, headers={FAULT_HEADER: "aaa42"})
        metrics = connector.metrics
    assert isinstance(metrics, MemoryPayerMetrics)
    assert metrics.outcomes[("ACME", "answer")] == 1
    assert metrics.outcomes[("ACME", "PayerBusy")] == 1
    assert metrics.aaa[("ACME", "42")] == 1
    assert metrics.within_20s["ACME"] == 2
