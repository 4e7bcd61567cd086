"""`cptverify parse` on large interchanges: patient after patient, file after file.

A 48 MB 271 of 80,000 patients used to be turned into one dict and one 1.1 GB string before the
first byte was written: 8 GB peak memory. The view is now made per patient while it is written,
with the same bytes as before.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from cptverify.x12.json_view import interchange_to_dict
from cptverify.x12.model import Patient, Transaction271
from cptverify.x12.reader271 import read_271
from cptverify_local.cli import main
from cptverify_local.commands import parse
from tests.x12.builders import CANARY_LAST, CANARY_MEMBER, SUBSCRIBER_BODY, make_271


def _many_patients(count: int) -> str:
    body = list(SUBSCRIBER_BODY[:5])
    for n in range(count):
        for seg in SUBSCRIBER_BODY[5:]:
            body.append(f"HL*{n + 3}*2*22*0" if seg.startswith("HL*3*") else seg)
    return make_271(body)


@pytest.fixture
def response(tmp_path: Path) -> Path:
    path = tmp_path / "many.x12"
    path.write_text(_many_patients(5))
    return path


def test_output_is_the_whole_view_as_before(
    response: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["parse", str(response), "--json"])
    out, _ = capsys.readouterr()
    assert code == 0
    expected = json.dumps(interchange_to_dict(read_271(response.read_bytes())), indent=2)
    assert out == expected + "\n"


def test_several_files_keep_their_shape(response: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["parse", str(response), str(response), "--json", "--cpt", "99213"])
    out, _ = capsys.readouterr()
    assert code == 0
    files = json.loads(out)
    assert [f["file"] for f in files] == [str(response)] * 2
    patients = files[1]["transactions"][0]["patients"]
    assert len(patients) == 5 and all(len(p["procedures"]) == 1 for p in patients)


def test_patients_are_written_while_the_next_is_made(
    response: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdout = io.StringIO()
    written: list[int] = []

    def hook(txn: Transaction271, patient: Patient) -> list[dict[str, Any]]:
        written.append(stdout.tell())
        return []

    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(parse, "procedures_for", lambda args: hook)
    monkeypatch.setattr(parse, "WRITE_SIZE", 1)
    assert main(["parse", str(response), "--json"]) == 0
    assert len(written) == 5
    # Each patient is made after the one before it was written out.
    assert all(later > earlier for earlier, later in zip(written, written[1:], strict=False))


def test_a_patient_that_cannot_be_rendered_is_null_and_named_on_stderr(
    response: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[int] = []

    def hook(txn: Transaction271, patient: Patient) -> list[dict[str, Any]]:
        calls.append(1)
        if len(calls) == 2:
            raise ValueError(f"{CANARY_LAST} {CANARY_MEMBER}")
        return []

    monkeypatch.setattr(parse, "procedures_for", lambda args: hook)
    code = main(["parse", str(response), "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    patients = json.loads(out)["transactions"][0]["patients"]
    assert [p is None for p in patients] == [False, True, False, False, False]
    assert err.count("\n") == 1 and "ValueError" in err
    assert CANARY_LAST not in err and CANARY_MEMBER not in err


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "tables"])
def test_several_files_are_read_one_at_a_time(
    response: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    stdout = io.StringIO()
    written_before_read: list[int] = []
    real = parse.read_271

    def reading(data: bytes | str) -> Any:
        written_before_read.append(stdout.tell())
        return real(data)

    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(parse, "read_271", reading)
    monkeypatch.setattr(parse, "WRITE_SIZE", 1)
    argv = ["parse", str(response), str(response), str(response)]
    assert main(argv + (["--json"] if as_json else [])) == 0
    # Each file is read only after the one before it was written out.
    assert written_before_read[0] <= 2
    assert written_before_read[0] < written_before_read[1] < written_before_read[2]
