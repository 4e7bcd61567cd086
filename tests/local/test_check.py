"""`cptverify check` when nothing answers at the payer's URL: the URL tried and what to do."""

from __future__ import annotations

import json
import socket

import pytest

from cptverify_local.cli import main

PATIENT = [
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
]


def closed_loopback_url() -> str:
    """A loopback base URL nothing listens on (a port just released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_no_simulator_names_the_url_and_how_to_start_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = closed_loopback_url()

    code = main(["check", *PATIENT, "--base-url", base])

    err = capsys.readouterr().err
    assert code == 3
    assert err.count("\n") == 1
    assert err.startswith("PayerUnavailable: payer ACME: connection failed (retryable")
    assert f"tried {base}/" in err
    assert "cptverify simulator" in err and "make simulator" in err
    assert not any(c in err for c in ("CANARY", "19010203", "1901-02-03"))


def test_no_simulator_as_json_carries_the_url_and_the_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = closed_loopback_url()

    code = main(["check", *PATIENT, "--base-url", base, "--json"])

    answer = json.loads(capsys.readouterr().out)
    assert code == 3
    assert answer["error"] == "PayerUnavailable" and answer["code"] == "connect_error"
    assert answer["url"].startswith(base + "/")
    assert "cptverify simulator" in answer["hint"]


def test_the_url_shown_drops_user_info_and_query() -> None:
    from cptverify_local.commands.check import _shown_url

    shown = _shown_url("https://user:secret@payer.example:8443/core/mime?token=abc")

    assert shown == "https://payer.example:8443/core/mime"
