"""Pure-domain tests: reading, validation, grouping, freshness key and report rendering."""

from __future__ import annotations

import io
import json

import pytest

from cptverify.schedules.columns import (
    Header,
    RawRow,
    ScheduleFormatError,
    iter_rows,
    read_header,
    text_stream,
)
from cptverify.schedules.freshness import FreshAnswer, freshness_key
from cptverify.schedules.grouping import Grouper, Line
from cptverify.schedules.report import (
    read_report_csv,
    render_csv,
    render_errors_csv,
    render_json,
    report_line,
)
from cptverify.schedules.rows import (
    RowInvalid,
    normalise_date,
    parse_amounts,
    parse_procedures,
    validate_row,
)
from tests.batch.schedule_data import CANARIES, DOS, NPI, mixed_schedule, row, schedule


def _rows(data: bytes) -> list[RawRow]:
    return [r for r in iter_rows(text_stream(io.BytesIO(data))) if isinstance(r, RawRow)]


def _no_canary(text: str) -> None:
    for canary in CANARIES:
        assert canary not in text


def test_excel_quirks_bom_crlf_quotes_and_header_spelling() -> None:
    data = (
        "\ufeffAppointment ID,Date of Service,Payer,Member ID,First Name,Last Name,DOB,NPI,"
        "CPT,Allowed Amount\r\n"
        f'A1,{DOS},ACME01,M1,Ann,"O\'Neil, Jr",1980-01-15,{NPI},"99213;97110:GP",'
        '"$1,200.00;95"\r\n'
        "\r\n"
    ).encode()
    items = list(iter_rows(text_stream(io.BytesIO(data))))
    assert isinstance(items[0], Header)
    raw = items[1]
    assert isinstance(raw, RawRow) and raw.number == 2 and len(items) == 2
    valid = validate_row(raw)
    assert [p.code for p in valid.procedures] == ["99213", "97110"]
    assert valid.procedures[1].modifiers == ("GP",)
    assert [p.allowed_amount for p in valid.procedures] == ["1200.00", "95.00"]
    assert valid.body["subscriber"]["last_name"] == "O'Neil, Jr"


def test_an_unreadable_record_is_reported_and_reading_goes_on() -> None:
    data = schedule(row("A1"), 'A2,"' + "x" * 140_000 + '"', row("A3"), crlf=True)
    items = list(iter_rows(text_stream(io.BytesIO(data))))
    assert isinstance(items[0], Header)
    assert [type(i).__name__ for i in items[1:]] == ["RawRow", "UnreadableRow", "RawRow"]
    assert [i.number for i in items[1:] if not isinstance(i, Header)] == [2, 3, 4]
    assert isinstance(items[3], RawRow) and items[3].get("appointment_id") == "A3"


def test_missing_required_column_is_a_file_error() -> None:
    with pytest.raises(ScheduleFormatError) as info:
        read_header(["appointment_id", "payer_id"])
    assert info.value.column == "date_of_service"


def test_quoted_line_break_keeps_spreadsheet_row_numbers() -> None:
    data = schedule(row("A1"), row("A2", claim="X")).replace(b"A2", b'"A\n2"', 1)
    numbers = [r.number for r in _rows(data)]
    assert numbers == [2, 3]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-04", "2026-12-04"),
        ("12/4/2026", "2026-12-04"),
        ("20261204", "2026-12-04"),
        ("2026-12-04 00:00:00", "2026-12-04"),
        ("13/40/2026", "13/40/2026"),
    ],
)
def test_dates_from_spreadsheets(text: str, expected: str) -> None:
    assert normalise_date(text) == expected


def test_procedures_and_amounts_cells() -> None:
    assert parse_procedures("99213; 97110:gp:59;") == [("99213", ()), ("97110", ("GP", "59"))]
    assert parse_amounts("120;", 2) == ["120.00", None]
    for bad in ("", ";", "99213:"):
        with pytest.raises(ValueError):
            parse_procedures(bad)
    with pytest.raises(ValueError):
        parse_amounts("-1", 1)
    with pytest.raises(ValueError):
        parse_amounts("abc", 1)


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("120.001", "amount 1 must have at most two decimal places"),
        ('"1,200.005"', "amount 1 must have at most two decimal places"),
        ("10000000000", "amount 1 must be below 10,000,000,000.00"),
        ("1;2", "2 amounts for 1 procedure"),
    ],
)
def test_amounts_the_api_refuses_are_row_errors_not_rounded(cell: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_amounts(cell.strip('"'), 1)
    assert str(info.value) == reason


def test_every_kind_of_bad_row_names_row_and_column_without_patient_data() -> None:
    problems = {}
    for raw in _rows(mixed_schedule()):
        try:
            validate_row(raw)
        except RowInvalid as exc:
            problems[raw.get("appointment_id")] = {(p.row, p.column) for p in exc.problems}
            _no_canary(str(exc) + repr(exc.problems))
    assert problems == {
        "B1": {(7, "provider_npi")},
        "B2": {(8, "date_of_service")},
        "B3": {(9, "procedures")},
        "B4": {(10, "allowed_amounts")},
        "B5": {
            (11, "subscriber_first_name"),
            (11, "subscriber_last_name"),
            (11, "subscriber_birth_date"),
        },
        "B6": {(12, "patient_birth_date")},
        "B7": {(13, "member_id")},
        "B8": {(14, "relationship")},
        "B9": {(15, "procedures")},
        "B10": {(16, "provider_network")},
        "B11": {(17, "patient_last_name")},
    }


def test_grouping_duplicates_dependents_and_claim_lines() -> None:
    grouper = Grouper("b1")
    duplicates = []
    for raw in _rows(mixed_schedule()):
        duplicate = grouper.duplicate_of(raw)
        if duplicate is not None:
            duplicates.append(duplicate)
            continue
        try:
            grouper.add(validate_row(raw))
        except RowInvalid:
            continue
    assert [(d.row, d.column) for d in duplicates] == [(4, "row")]
    assert "row 2" in duplicates[0].reason
    inquiries = list(grouper.inquiries.values())
    assert len(inquiries) == 3
    first = inquiries[0]
    assert [(ln.claim_id, ln.line, ln.code) for ln in first.lines] == [
        ("A1", 1, "99213"),
        ("A1", 2, "97110"),
        ("CLM-2", 1, "70551"),
    ]
    body = first.inquiry_body()
    assert [p["code"] for p in body["procedures"]] == ["99213", "97110", "70551"]
    assert body["procedures"][0]["allowed_amount"] == "120.00"
    dependent = inquiries[1].inquiry_body()
    assert dependent["payer"]["id"] == "BLUEPEAK"
    assert dependent["dependent"]["relationship_code"] == "19"
    assert dependent["dependent"]["birth_date"] == "2015-03-04"
    assert dependent["subscriber"]["first_name"] == "CANARYFIRST"
    assert inquiries[2].body["provider"]["npi"] != NPI


def test_freshness_key_is_keyed_and_hides_identity() -> None:
    identity = (
        "ACME",
        "CANARYMEMBER123",
        "CANARYLAST",
        "CANARYFIRST",
        "1901-02-03",
        "",
        DOS,
        NPI,
    )
    key = freshness_key(b"secret-1", "t1", identity)
    assert key == freshness_key(b"secret-1", "t1", identity)
    assert key != freshness_key(b"secret-2", "t1", identity)
    assert key != freshness_key(b"secret-1", "t2", identity)
    assert len(key) == 64
    _no_canary(key)
    assert FreshAnswer("i", "k", 100).is_fresh(100 + 3600, 3600)
    assert not FreshAnswer("i", "k", 100).is_fresh(100 + 3601, 3600)


RESULT = {
    "code": "99213",
    "status": "covered",
    "match": "service_type",
    "networks": {
        "in": {
            "copay": [{"amount": "25.00", "coverage_level": "IND"}],
            "coinsurance": [{"percent": "0.2", "coverage_level": "IND"}],
            "deductible": {"individual": {"remaining": "120.00"}, "family": None},
            "out_of_pocket": {"individual": None, "family": None},
            "authorization_required": {"required": "Y", "source": "procedure", "messages": []},
        },
        "out": None,
        "both": {
            "copay": [],
            "coinsurance": [],
            "deductible": {"individual": None, "family": None},
            "out_of_pocket": {"individual": {"remaining": "900.00"}, "family": None},
        },
        "unspecified": None,
    },
    "rejections": [],
    "estimate": {"network": "in", "patient_pays": "95.00"},
}


def test_report_lines_from_results_and_terminal_states() -> None:
    line = Line(2, "A1", "A1", 1, "99213", ("25",), "120.00", "b1-00001")
    done = report_line(line, {"status": "COMPLETED"}, RESULT)
    assert (done.status, done.network, done.copay, done.coinsurance) == (
        "covered",
        "in",
        "25.00",
        "20%",
    )
    assert (done.deductible_remaining, done.out_of_pocket_remaining) == ("120.00", "900.00")
    assert (done.authorization, done.estimate, done.modifiers) == ("required", "95.00", "25")
    failed = report_line(line, {"status": "FAILED", "reason": "PayerUnavailable"}, None)
    assert (failed.status, failed.reason) == ("failed", "PayerUnavailable")
    failed = report_line(
        line, {"status": "FAILED", "reason": {"error": "PayerBusy", "message": "busy"}}, None
    )
    assert failed.reason == "busy"
    rejected = report_line(
        line,
        {"status": "REJECTED", "rejections": [{"code": "75", "description": "not found"}]},
        None,
    )
    assert (rejected.status, rejected.reason) == ("rejected", "AAA 75 not found")
    failed = report_line(line, {"status": "FAILED", "reason": "PayerUnavailable"}, None)
    pending = report_line(line, None, None)
    assert pending.status == "pending"
    csv_rows = read_report_csv(render_csv([done, failed]))
    assert [r["status"] for r in csv_rows] == ["covered", "failed"]
    assert csv_rows[0]["copay"] == "25.00"
    document = json.loads(render_json({"batch_id": "b1"}, [done]))
    assert document["lines"][0]["claim_id"] == "A1"


def test_error_report_has_ids_only() -> None:
    problems = []
    for raw in _rows(mixed_schedule()):
        try:
            validate_row(raw)
        except RowInvalid as exc:
            problems.extend(exc.problems)
    text = render_errors_csv(problems).decode()
    assert text.splitlines()[0] == "row,appointment_id,claim_id,column,reason"
    _no_canary(text)


def test_shipped_sample_schedule_reads_as_documented() -> None:
    from pathlib import Path

    path = (
        Path(__file__).resolve().parents[2]
        / "local"
        / "cptverify_local"
        / "data"
        / "sample-schedule.csv"
    )
    grouper = Grouper("b-sample")
    bad: list[tuple[int, str]] = []
    duplicates = 0
    rows = _rows(path.read_bytes())
    for raw in rows:
        if grouper.duplicate_of(raw):
            duplicates += 1
            continue
        try:
            grouper.add(validate_row(raw))
        except RowInvalid as exc:
            bad += [(p.row, p.column) for p in exc.problems]
    assert len(rows) == 50 and duplicates == 2
    assert [c for _, c in bad] == [
        "provider_npi",
        "member_id",
        "procedures",
        "allowed_amounts",
        "date_of_service",
    ]
    assert len(grouper.inquiries) == 23
    assert len({i.body["payer"]["id"] for i in grouper.inquiries.values()}) == 10
    assert all("NPI" not in reason for reason in [c for _, c in bad])


def test_windows_1252_bytes_are_a_row_error_not_a_crash() -> None:
    data = schedule(row("A1"), row("A2", claim="C2")).replace(b"CANARYFIRST", b"CANARY\xe9", 1)
    problems = []
    for raw in _rows(data):
        try:
            validate_row(raw)
        except RowInvalid as exc:
            problems += [(p.row, p.column, p.reason) for p in exc.problems]
    assert (2, "patient_first_name", "not UTF-8 text") in problems
    assert all(p[0] == 2 for p in problems)


def test_a_row_with_several_problems_lists_each_one() -> None:
    bad = row(
        "M1",
        birth="1980-02-30",
        npi="1234567890",
        procedures="99213;97110:GPX",
        amounts="abc;95",
    )
    (raw,) = _rows(schedule(bad))
    with pytest.raises(RowInvalid) as caught:
        validate_row(raw)
    found = {p.column: p.reason for p in caught.value.problems}
    assert set(found) == {
        "patient_birth_date",
        "provider_npi",
        "procedures",
        "allowed_amounts",
    }
    assert "YYYY-MM-DD, YYYYMMDD, MM/DD/YYYY" in found["patient_birth_date"]
    assert "procedure 2" in found["procedures"]
    assert found["allowed_amounts"] == "amount 1 is not a number"
    text = render_errors_csv(caught.value.problems).decode()
    assert len(text.splitlines()) == 5
    _no_canary(text + str(caught.value))
    assert "1980-02-30" not in text and "1234567890" not in text


def test_unreadable_procedures_do_not_hide_or_invent_amount_problems() -> None:
    (raw,) = _rows(schedule(row("M2", procedures="99213;ab", amounts="10;x")))
    with pytest.raises(RowInvalid) as caught:
        validate_row(raw)
    assert {(p.column, p.reason) for p in caught.value.problems} == {
        ("procedures", "procedure 2 is not a procedure code"),
        ("allowed_amounts", "amount 2 is not a number"),
    }


def test_date_of_service_error_lists_the_accepted_forms() -> None:
    (raw,) = _rows(schedule(row("M3", dos="2026-13-45")))
    with pytest.raises(RowInvalid) as caught:
        validate_row(raw)
    (problem,) = caught.value.problems
    assert problem.column == "date_of_service"
    assert "MM/DD/YYYY" in problem.reason and "today" in problem.reason


OUT_OF_NETWORK_REFUSED = {
    "code": "99213",
    "status": "covered",
    "match": "procedure",
    "networks": {"in": {"copay": [{"amount": "20.00"}]}, "out": None},
    "rejections": [],
    "estimate": {
        "network": "out",
        "patient_pays": None,
        "missing": ["deductible remaining", "copay or coinsurance"],
    },
    "notes": ["not covered out of network (per the procedure row)"],
}


def test_report_reason_explains_an_out_of_network_line_without_figures() -> None:
    line = Line(13, "APT-1012", "APT-1012", 1, "99213", (), "140.00", "b1-00002", "BLUEPEAK")
    done = report_line(line, {"status": "COMPLETED", "network": "out"}, OUT_OF_NETWORK_REFUSED)
    assert (done.status, done.network, done.copay, done.estimate) == ("covered", "out", "", "")
    assert "not covered out of network (per the procedure row)" in done.reason
    assert "no out-of-network figures" in done.reason
    assert "no estimate: missing deductible remaining" in done.reason


def test_report_reason_says_no_estimate_when_the_network_is_unknown() -> None:
    result = {
        **OUT_OF_NETWORK_REFUSED,
        "notes": [],
        "estimate": {"network": "unknown", "patient_pays": None, "missing": ["copay"]},
    }
    line = Line(2, "A1", "A1", 1, "99213", (), "120.00", "b1-00001")
    done = report_line(line, {"status": "COMPLETED"}, result)
    assert "no estimate: the provider's network is unknown" in done.reason
    assert "in-network figures are shown" in done.reason
    known = report_line(line, {"status": "COMPLETED", "network": "in"}, RESULT)
    assert known.reason == ""


def _shipped_payer_ids() -> frozenset[str]:
    from importlib import resources

    from cptverify.payers.registry import parse_registry

    text = resources.files("cptverify").joinpath("data/payers.yaml").read_text(encoding="utf-8")
    return frozenset(parse_registry(text).ids())


def test_a_payer_outside_the_registry_is_one_more_problem_of_its_row() -> None:
    payers = _shipped_payer_ids()
    known, unknown, two_problems = _rows(
        schedule(
            row("P1", payer="bluepeak"),
            row("P2", payer="NOSUCH"),
            row("P3", payer="NOSUCH", npi="1234567890"),
        )
    )

    assert validate_row(known, payers=payers).body["payer"]["id"] == "BLUEPEAK"
    assert validate_row(unknown).body["payer"]["id"] == "NOSUCH"  # no registry: unchecked
    with pytest.raises(RowInvalid) as caught:
        validate_row(two_problems, payers=payers)
    found = {p.column: p.reason for p in caught.value.problems}
    assert set(found) == {"payer_id", "provider_npi"}
    assert found["payer_id"].startswith("not a payer this service is set up for")
    assert "NOSUCH" not in render_errors_csv(caught.value.problems).decode()


def test_shipped_sample_schedule_names_only_registry_payers() -> None:
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "local/cptverify_local/data/sample-schedule.csv"
    payers = _shipped_payer_ids()
    columns: list[str] = []
    for raw in _rows(path.read_bytes()):
        try:
            validate_row(raw, payers=payers)
        except RowInvalid as exc:
            columns += [p.column for p in exc.problems]
    assert "payer_id" not in columns and len(columns) == 5


def test_a_bad_appointment_id_is_named_when_it_is_also_the_claim_id() -> None:
    # No claim_id column: the appointment id is the claim id, and the user must fix that cell.
    header = (
        "appointment_id,date_of_service,payer_id,member_id,patient_first_name,patient_last_name,"
        "patient_birth_date,provider_npi,procedures"
    )
    data = f"{header}\r\nM 5,{DOS},ACME,M1,ANN,LEE,1980-01-15,{NPI},99213\r\n".encode()
    [raw] = _rows(data)
    with pytest.raises(RowInvalid) as info:
        validate_row(raw)
    assert [p.column for p in info.value.problems] == ["appointment_id"]
