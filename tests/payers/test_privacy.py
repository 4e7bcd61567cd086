"""No patient data in exception messages, logs or metric dimensions, on any outcome (canaries)."""

from __future__ import annotations

import json
import logging

import pytest

from cptverify.payers.connector import FAULT_HEADER, PayerConnector
from cptverify.payers.errors import PayerError
from cptverify.payers.metrics import PowertoolsPayerMetrics
from cptverify.payers.registry import get_payer
from cptverify_local.cli import main
from tests.simulator.conftest import build_for, inquiry_for

CANARIES = ("CANARYLAST", "CANARYFIRST", "CANARYMEMBER123", "19010203", "1901-02-03")
FAULTS = [
    None,
    "timeout",
    "http_500",
    "http_503",
    "http_429",
    "aaa42",
    "aaa80",
    "truncated",
    "non_x12",
    "drop",
    "envelope_error",
]


def _canary_270(payer_id: str = "ACME") -> str:
    inquiry = inquiry_for("ACME", "CANARYMEMBER123", "CANARYFIRST", "CANARYLAST", "1901-02-03")
    return build_for(get_payer(payer_id), inquiry)[0]


def _assert_clean(text: str) -> None:
    for canary in CANARIES:
        assert canary not in text


@pytest.mark.parametrize("payer_id", ["ACME", "BLUEPEAK"])
@pytest.mark.parametrize("fault", FAULTS)
def test_no_patient_data_in_errors_or_logs(simulator, capsys, caplog, payer_id, fault):
    caplog.set_level(logging.DEBUG)
    emf = PowertoolsPayerMetrics(namespace="cptverify-test")
    payer = get_payer(payer_id).model_copy(update={"read_timeout_seconds": 0.3})
    x12 = _canary_270(payer_id)
    headers = {FAULT_HEADER: fault, "X-Cptverify-Hold-Seconds": "2"} if fault else None
    with PayerConnector(payer, base_url=simulator.url, metrics=emf) as connector:
        try:
            exchange = connector.send(x12, headers=headers)
        except PayerError as exc:
            _assert_clean(str(exc))
            _assert_clean(repr(exc))
            _assert_clean(json.dumps(exc.to_dict()))
        else:
            assert exchange.rejected  # the canary member is unknown: AAA 75
            _assert_clean(json.dumps(exchange.facts()))
    out = capsys.readouterr()
    _assert_clean(out.out + out.err + caplog.text)
    assert "PayerLatency" in out.out  # the EMF metrics were written, with clean dimensions


def test_check_cli_prints_no_canary_to_stderr_on_failure(simulator, capsys):
    code = main(
        [
            "check",
            "--payer",
            "ACME",
            "--member-id",
            "CANARYMEMBER123",
            "--last-name",
            "CANARYLAST",
            "--first-name",
            "CANARYFIRST",
            "--birth-date",
            "1901-02-03",
            "--npi",
            "1234567893",
            "--cpt",
            "99213",
            "--fault",
            "http_503",
            "--base-url",
            simulator.url,
        ]
    )
    assert code == 3
    out = capsys.readouterr()
    _assert_clean(out.out + out.err)
