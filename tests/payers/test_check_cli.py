"""`cptverify check` against the simulator: output and exit codes."""

from __future__ import annotations

import json

import pytest

from cptverify_local.cli import main

JANE = [
    "--payer",
    "ACME",
    "--member-id",
    "ACM100001",
    "--last-name",
    "DOE",
    "--first-name",
    "JANE",
    "--birth-date",
    "1980-01-15",
    "--npi",
    "1234567893",
    "--cpt",
    "99213",
]


def _run(simulator, capsys, *extra: str) -> tuple[int, str, str]:
    code = main(["check", *JANE, "--base-url", simulator.url, *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_answer_prints_the_plan_book_copay_and_exits_0(simulator, capsys):
    code, out, _ = _run(simulator, capsys)
    assert code == 0
    assert "25.00" in out and "99213" in out


def test_json_has_the_per_cpt_result(simulator, capsys):
    code, out, _ = _run(simulator, capsys, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["exchange"]["http_status"] == 200
    patient = data["response"]["transactions"][0]["patients"][0]
    assert patient["procedures"][0]["code"] == "99213"
    assert "25.00" in json.dumps(patient["procedures"][0])


def test_unknown_member_prints_aaa_75_and_exits_1(simulator, capsys):
    code = main(["check", *JANE, "--base-url", simulator.url, "--member-id", "NOSUCH1"])
    out = capsys.readouterr().out
    assert code == 1
    assert "AAA 75" in out and "not found" in out


def test_fault_timeout_is_payer_timeout_retryable_exit_3(simulator, capsys):
    code, _, err = _run(simulator, capsys, "--fault", "timeout", "--read-timeout", "0.3")
    assert code == 3
    assert "PayerTimeout" in err and "retryable" in err and "90 s" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--fault", "timeout", "--base-url", "https://payer.example.com"], "only allowed"),
        (["--npi", "1234567890"], "provider.npi"),
        (["--payer", "NOPE"], "payer NOPE is not in the payer registry"),
        (["--birth-date", "15/01/1980"], "subscriber.birth_date"),
    ],
)
def test_invalid_input_or_config_exits_2(simulator, capsys, extra, message):
    code = main(["check", *JANE, "--base-url", simulator.url, *extra])
    assert code == 2
    assert message in capsys.readouterr().err
