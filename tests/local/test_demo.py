"""`cptverify demo` end to end on a small schedule, and its one-line refusals."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from cptverify_local.cli import main
from tests.local.conftest import CANARIES
from tests.local.test_end_to_end import HEADER, row

pytestmark = pytest.mark.slow


def test_demo_prints_the_table_and_copies_the_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schedule = tmp_path / "day.csv"
    lines = [HEADER, row("D1", "ACME", "99213", claim="DC1", member="ACM100001")]
    lines[1] = lines[1].replace("CANARYFIRST", "JANE").replace("CANARYLAST", "DOE")
    lines[1] = lines[1].replace("1901-02-03", "1980-01-15")
    lines.append(row("D2", "ACME", ""))  # a bad row: no procedures
    schedule.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    environment_before = dict(os.environ)

    code = main(["demo", "--schedule", str(schedule), "--out", str(out)])

    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "D1" in printed and "99213" in printed and "25.00" in printed
    assert "schedule rows" in printed and "payer calls" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "demo.log",
        "errors.csv",
        "report.csv",
        "report.json",
    ]
    report = json.loads((out / "report.json").read_text())
    assert [ln["appointment_id"] for ln in report["lines"]] == ["D1"]
    assert "procedures" in (out / "errors.csv").read_text()
    log = (out / "demo.log").read_text()
    assert "JANE" not in log and "ACM100001" not in log and "1980-01-15" not in log
    assert not any(c in printed for c in CANARIES)
    # Nothing keeps running and the environment is as it was.
    assert [t.name for t in threading.enumerate() if "serve_forever" in t.name] == []
    assert dict(os.environ) == environment_before


def test_demo_refuses_a_missing_schedule_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["demo", "--schedule", str(tmp_path / "nope.csv"), "--out", str(tmp_path)])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "nope.csv" in err


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file has no header row"),
        (b"\n\n  \n", "the file has no header row"),
        (b"appointment_id,date_of_service,payer_id\nA1,2026-12-04,ACME\n", "member_id"),
        (
            b"appointment_id;date_of_service;payer_id;member_id;procedures\n"
            b"A1;2026-12-04;ACME;CANARYMEMBER123;99213\n",
            "semicolon-separated",
        ),
    ],
    ids=["empty", "blank-lines", "column-missing", "semicolons"],
)
def test_demo_refuses_an_unusable_schedule_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, reason: str
) -> None:
    schedule = tmp_path / "day.csv"
    schedule.write_bytes(content)
    out = tmp_path / "out"

    code = main(["demo", "--schedule", str(schedule), "--out", str(out)])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("cptverify demo: schedule day.csv cannot be read: ")
    assert reason in captured.err
    assert "CANARY" not in captured.err and captured.out == ""
    assert not out.exists()  # nothing was started or written


def test_demo_starts_from_an_empty_output_folder_and_names_ignored_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "errors.csv").write_text("row,reason\n9,from an earlier run\n")
    (out / "demo.log").write_text("EARLIER RUN\n")
    (out / "notes.txt").write_text("not the demo's")
    schedule = tmp_path / "clean.csv"
    good = row("E1", "ACME", "99213", claim="EC1", member="ACM100001")
    good = good.replace("CANARYFIRST", "JANE").replace("CANARYLAST", "DOE")
    good = good.replace("1901-02-03", "1980-01-15")
    schedule.write_text(f"{HEADER},Notes,SSN\n{good},call,\n")

    code = main(["demo", "--schedule", str(schedule), "--out", str(out)])

    printed = capsys.readouterr().out
    assert code == 0, printed
    assert sorted(p.name for p in out.iterdir()) == [
        "demo.log",
        "notes.txt",
        "report.csv",
        "report.json",
    ]
    assert "EARLIER RUN" not in (out / "demo.log").read_text()
    assert "ignored columns" in printed and "Notes, SSN" in printed
