"""`cptverify parse`: tables, JSON, and one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cptverify.x12.reader271 import read_271
from cptverify_local.cli import main
from tests.conftest import PROJECT_ROOT, shared_path
from tests.x12.builders import CANARY_LAST, CANARY_MEMBER, make_271

SAMPLE = PROJECT_ROOT / "local" / "cptverify_local" / "data" / "sample-271.x12"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["parse", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_not_x12_prints_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Dear doctor, this is not an X12 file.\n")
    code, out, err = run(capsys, str(path))
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "not_x12" in err and "Traceback" not in err


def test_missing_file_prints_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(tmp_path / "absent.x12"), "--json")
    assert code == 2
    assert len(err.strip().splitlines()) == 1


def test_truncated_file_error_has_no_file_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cut.x12"
    path.write_text(make_271()[:70])
    code, _, err = run(capsys, str(path))
    assert code == 2
    assert "TESTPAYER" not in err and CANARY_LAST not in err


def test_json_for_our_fixture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ok.x12"
    path.write_text(make_271())
    code, out, err = run(capsys, str(path), "--json")
    assert code == 0 and err == ""
    patient = json.loads(out)["transactions"][0]["patients"][0]
    assert patient["member_id"] == CANARY_MEMBER
    office = [b for b in patient["benefits"] if b["code"] == "B" and not b["procedure"]]
    assert [(b["amount"], b["in_plan_network"]) for b in office] == [("10.00", "Y"), ("30.00", "N")]


def test_tables_for_the_bundled_sample(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(SAMPLE))
    assert code == 0
    assert "active" in out and "Benefits" in out


def test_several_files_give_a_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("nope")
    code, out, err = run(capsys, str(SAMPLE), str(bad), "--json")
    assert code == 2
    data = json.loads(out)
    assert [item["file"] for item in data] == [str(SAMPLE)]
    assert len(err.strip().splitlines()) == 1


def test_c01_copays_from_the_shared_case(capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_path("cases", "271-tr3-subscriber-active-copay-innet10-outnet30.x12")
    code, out, _ = run(capsys, str(path), "--json")
    assert code == 0
    benefits = json.loads(out)["transactions"][0]["patients"][0]["benefits"]
    office = [b for b in benefits if b["code"] == "B" and "98" in b["service_types"]]
    assert [(b["amount"], b["in_plan_network"]) for b in office] == [("10.00", "Y"), ("30.00", "N")]
    assert not [b for b in benefits if b["code"] == "A"]


def test_file_text_is_never_read_as_markup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "markup.x12"
    path.write_text(make_271().replace(CANARY_LAST, "[/bold]ODD[red"))
    code, out, err = run(capsys, str(path))
    assert code == 0 and err == ""
    assert "[/bold]ODD[red" in out


def test_bundled_sample_reads_clean_and_70551_needs_authorization(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ic = read_271(SAMPLE.read_bytes())
    assert ic.warnings == []
    code, out, err = run(capsys, str(SAMPLE), "--json", "--cpt", "70551")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["warnings"] == []
    (proc,) = data["transactions"][0]["patients"][0]["procedures"]
    assert proc["status"] == "covered" and proc["match"] == "procedure"
    auth = proc["networks"]["in"]["authorization_required"]
    assert auth["required"] == "Y" and auth["source"] == "procedure"


def test_tables_are_wide_when_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    code, out, _ = run(capsys, str(SAMPLE), "--cpt", "70551")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) > 100
    assert "authorization" in out and "Y (procedure)" in out
