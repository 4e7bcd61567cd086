"""Typed errors, warnings with positions, AAA meanings and the JSON view rules."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from cptverify.x12.aaa import describe
from cptverify.x12.errors import NotX12Error, StructureError, TruncatedInterchangeError, X12Error
from cptverify.x12.json_view import amount_str, interchange_to_dict, number_str
from cptverify.x12.reader271 import read_271
from tests.x12.builders import CANARY_DOB, CANARY_LAST, CANARY_MEMBER, SUBSCRIBER_BODY, make_271

CANARIES = (CANARY_LAST, CANARY_MEMBER, CANARY_DOB)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", NotX12Error),
        (b"hello, this is not X12", NotX12Error),
        (b'{"json": true}', NotX12Error),
        (b"ISA", TruncatedInterchangeError),
        (b"ISA*00*          *00*    ", TruncatedInterchangeError),
        (b"ISAX00", NotX12Error),
        (b"\x00\x01\x02\xff", NotX12Error),
    ],
)
def test_unreadable_input_raises_a_typed_error(data: bytes, error: type[X12Error]) -> None:
    with pytest.raises(error) as caught:
        read_271(data)
    assert caught.value.segment == 1
    assert str(caught.value).startswith(caught.value.code)


def test_a_270_is_not_a_271() -> None:
    text = make_271(transaction_set="270", gs01="HS")
    with pytest.raises(StructureError) as caught:
        read_271(text)
    assert caught.value.segment == 3
    for canary in CANARIES:
        assert canary not in str(caught.value)


def test_no_patient_data_in_errors_or_warnings() -> None:
    text = make_271().replace("SE*30*", "SE*99*").replace(f"*{CANARY_DOB}*", "*19011399*")
    ic = read_271(text)
    assert {"se_count", "date_invalid"} <= {w.code for w in ic.warnings}
    rendered = json.dumps(interchange_to_dict(ic)["warnings"])
    for canary in CANARIES:
        assert canary not in rendered
    cut = make_271()[:50]
    with pytest.raises(X12Error) as caught:
        read_271(cut)
    assert "TESTPAYER" not in str(caught.value)


def test_missing_final_terminator_and_missing_trailer() -> None:
    text = make_271().rstrip("~")
    assert read_271(text).transactions[0].patients[0].coverage_status == "active"
    cut = make_271().split("GE*")[0]
    ic = read_271(cut)
    assert {"ge_missing", "iea_missing"} <= {w.code for w in ic.warnings}


def test_several_groups_and_transactions() -> None:
    one = make_271()
    head, _, rest = one.partition("GS*")
    group = "GS*" + rest.rsplit("IEA*", 1)[0]
    text = head + group * 3 + "IEA*3*000000001~"
    ic = read_271(text)
    assert len(ic.transactions) == 3
    assert "iea_count" not in {w.code for w in ic.warnings}


def test_coverage_context() -> None:
    patient = read_271(make_271()).transactions[0].patients[0]
    coverage = patient.coverage
    assert (coverage.plan, coverage.group_number, coverage.group_name) == (
        "TEST GOLD",
        "GROUP01",
        "TEST GROUP",
    )
    assert patient.traces[0].number == "TRACE-0001"
    assert coverage.related_entities[0].entity_id == "P3"


def test_other_payer_from_eb_r() -> None:
    body = [
        *SUBSCRIBER_BODY[:10],
        "EB*1**30",
        "EB*R**30*MB",
        "REF*F6*TESTREF",
        "LS*2120",
        "NM1*PR*2*TEST OTHER PAYER",
        "LE*2120",
    ]
    patient = read_271(make_271(body)).transactions[0].patients[0]
    assert [e.last_name for e in patient.coverage.other_payers] == ["TEST OTHER PAYER"]
    assert patient.coverage.related_entities == []


@pytest.mark.parametrize(
    ("rows", "status"),
    [
        (["EB*1**30"], "active"),
        (["EB*6**30"], "inactive"),
        (["EB*1**30", "EB*6**30"], "unknown"),
        (["EB*P"], "unknown"),
        (["EB*D**30"], "unknown"),
        ([], "unknown"),
        (["AAA*Y**75*C"], "rejected"),
        (["AAA*Y**75*C", "EB*1**30"], "rejected"),
        (["AAA*Y**75*C", "EB*6**30"], "rejected"),
        (["EB*1**30", "AAA*Y**70*C"], "rejected"),
    ],
)
def test_coverage_status_rules(rows: list[str], status: str) -> None:
    body = [*SUBSCRIBER_BODY[:8], *rows]
    patient = read_271(make_271(body)).transactions[0].patients[0]
    assert patient.coverage_status == status
    if rows == ["EB*1**30", "EB*6**30"]:
        assert patient.status_notes


def test_upstream_rejection_marks_patients_rejected() -> None:
    body = [*SUBSCRIBER_BODY[:5], "AAA*Y**42*R", *SUBSCRIBER_BODY[5:12]]
    ic = read_271(make_271(body))
    assert ic.transactions[0].errors[0].loop == "2100B"
    assert ic.transactions[0].patients[0].coverage_status == "rejected"


def test_aaa_descriptions_and_retry() -> None:
    assert describe("42", "R")[1] is True
    assert describe("80", "P")[1] is True
    for code in ("72", "73", "75"):
        assert describe(code, "C")[1] is False
    text, retry = describe("ZZ9", None)
    assert text and retry is None
    text, retry = describe(None, "Q")
    assert text and retry is None
    assert describe("RC", "C")[1] is False


def test_amounts_and_percents_as_strings() -> None:
    assert amount_str(Decimal("10")) == "10.00"
    assert amount_str(Decimal("10.00")) == "10.00"
    assert amount_str(Decimal("10.5")) == "10.50"
    assert amount_str(Decimal("12.345")) == "12.345"
    assert amount_str(Decimal("0")) == "0.00"
    assert amount_str(None) is None
    assert number_str(Decimal(".2")) == "0.2"
    assert number_str(Decimal(".10")) == "0.10"
    assert number_str(Decimal("1")) == "1"
    assert number_str(None) is None


def test_bad_numbers_are_warned_and_null() -> None:
    body = [*SUBSCRIBER_BODY[:8], "EB*B**98***27*TEN", "EB*A**98***27**NaN"]
    ic = read_271(make_271(body))
    rows = ic.transactions[0].patients[0].benefits
    assert [rows[0].amount, rows[1].percent] == [None, None]
    assert [w.code for w in ic.warnings].count("number_invalid") == 2


def test_procedures_hook_adds_a_key_per_patient() -> None:
    ic = read_271(make_271())
    data = interchange_to_dict(ic, lambda txn, patient: [{"code": "99213"}])
    assert data["transactions"][0]["patients"][0]["procedures"] == [{"code": "99213"}]
    assert "procedures" not in interchange_to_dict(ic)["transactions"][0]["patients"][0]


def test_dependent_under_a_rejected_subscriber_is_rejected() -> None:
    body = [
        *SUBSCRIBER_BODY[:5],
        "HL*3*2*22*1",
        "NM1*IL*1*TESTSUB*ALPHA****MI*M1",
        "AAA*Y**75*C",
        "HL*4*3*23*0",
        "NM1*03*1*TESTDEP*BETA",
        "EB*1**30",
    ]
    subscriber, dependent = read_271(make_271(body)).transactions[0].patients
    assert subscriber.coverage_status == "rejected"
    assert dependent.subscriber_member_id == "M1"
    assert dependent.coverage_status == "rejected"


def test_reader_modules_import_no_cli_or_pydantic() -> None:
    import subprocess
    import sys

    code = (
        "import sys, cptverify.x12.reader271, cptverify.x12.json_view\n"
        "heavy = ('pydantic', 'rich', 'cptverify_local')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
