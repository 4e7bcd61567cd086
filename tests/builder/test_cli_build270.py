"""`cptverify build-270`: valid requests print 270s that pass pyx12; invalid ones exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cptverify.x12.reader270 import read_270
from cptverify_local.cli import main
from tests.builder.conftest import FIXTURES
from tests.builder.x279a1 import validate

TODAY = ["--today", "2026-12-03"]
SAMPLE = Path(__file__).resolve().parents[2] / "local/cptverify_local/data/sample-inquiry.json"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["build-270", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


NAMES = ["subscriber.json", "dependent.json", "five-procedures.json"]


@pytest.mark.parametrize("name", NAMES)
def test_valid_request_prints_its_270_and_exits_0(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, str(FIXTURES / name), *TODAY)

    assert code == 0, err
    assert err == ""
    assert out.startswith("ISA*") and out.rstrip().endswith("~")
    (request,) = read_270(out)
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert [p.code for p in request.procedures] == [p["code"] for p in data["procedures"]]
    assert not request.warnings


@pytest.mark.parametrize("name", NAMES)
def test_valid_request_output_passes_pyx12(
    name: str, capsys: pytest.CaptureFixture[str], x279a1_map_dir: Path, tmp_path: Path
) -> None:
    code, out, _ = run(capsys, str(FIXTURES / name), *TODAY)

    assert code == 0
    report = validate(out, x279a1_map_dir, tmp_path)
    assert report.ok, report.errors


def test_split_prints_one_interchange_per_payer_call(
    capsys: pytest.CaptureFixture[str], x279a1_map_dir: Path, tmp_path: Path
) -> None:
    code, out, err = run(
        capsys, str(FIXTURES / "five-procedures.json"), *TODAY, "--max-procedures", "2"
    )

    assert code == 0
    assert "3 payer calls" in err
    blocks = [block for block in out.split("\n\n") if block.strip()]
    assert len(blocks) == 3
    for block in blocks:
        assert validate(block, x279a1_map_dir, tmp_path).ok


def test_options_reach_the_envelope_and_the_eq(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        str(FIXTURES / "subscriber.json"),
        *TODAY,
        "--sender-id",
        "CLINIC9",
        "--receiver-id",
        "PAYERX",
        "--usage",
        "P",
        "--no-procedure-codes",
        "--no-gender",
        "--single-line",
    )

    assert code == 0
    assert "\n" not in out.rstrip("\n")
    assert "*ZZ*CLINIC9        *ZZ*PAYERX         *" in out
    assert "*P*:~" in out
    (request,) = read_270(out)
    assert [eq.service_types for eq in request.inquiries] == [["98"], ["96"], ["PT"], ["AE"]]
    assert request.subscriber is not None and request.subscriber.gender is None


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(FIXTURES / "five-procedures.json"), *TODAY, "--json")

    body = json.loads(out)
    assert code == 0
    assert body["payer_calls"] == 1
    assert body["interchanges"][0]["procedures"] == ["99214", "97110", "97140", "70551", "J1100"]
    assert body["interchanges"][0]["x12"].startswith("ISA*")


def test_registry_settings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CPTVERIFY_PAYER_REGISTRY_FILE", raising=False)
    monkeypatch.delenv("CPTVERIFY_PAYER_REGISTRY_PARAMETER", raising=False)
    data = json.loads((FIXTURES / "five-procedures.json").read_text(encoding="utf-8"))
    data["payer"]["id"] = "ACME"
    request = tmp_path / "acme.json"
    request.write_text(json.dumps(data), encoding="utf-8")

    code, out, err = run(capsys, str(request), *TODAY, "--registry")

    assert code == 0, err
    assert "*ZZ*CPTVERIFY      *ZZ*ACME           *" in out

    data["payer"]["id"] = "NOSUCHPAYER"
    request.write_text(json.dumps(data), encoding="utf-8")
    code, out, err = run(capsys, str(request), *TODAY, "--registry")
    assert code == 2 and out == ""
    assert "not in the payer registry" in err


def test_invalid_request_names_fields_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(FIXTURES / "invalid.json"), *TODAY)

    assert code == 2
    assert out == ""
    for field in (
        "date_of_service",
        "provider.npi",
        "subscriber.last_name",
        "subscriber.birth_date",
        "procedures[0].code",
        "procedures[0].modifiers",
        "procedures[0].allowed_amount",
    ):
        assert f"  {field}: " in err
    for canary in ("CANARYLAST", "CANARYMEMBER123", "19010203", "CANARY1", "-5.00"):
        assert canary not in err


def test_unreadable_json_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, str(FIXTURES / "truncated.json"))

    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "not valid JSON" in err

    missing = tmp_path / "missing.json"
    code, _, err = run(capsys, str(missing))
    assert code == 2 and len(err.strip().splitlines()) == 1

    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    code, _, err = run(capsys, str(binary))
    assert code == 2 and "UTF-8" in err


def test_request_that_is_not_an_object(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    request = tmp_path / "list.json"
    request.write_text("[1, 2]")

    code, _, err = run(capsys, str(request))

    assert code == 2
    assert "(body)" in err


def test_sample_inquiry_shipped_with_the_cli_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(SAMPLE), *TODAY)

    assert code == 0 and out.startswith("ISA*")
