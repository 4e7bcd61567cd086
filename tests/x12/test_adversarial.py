"""Adversarial inputs for the 271 reader and `cptverify parse`: each test is one kind of bad input
that once gave a wrong result or an exception, written here on our own fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cptverify.x12.errors import NotX12Error, X12Error
from cptverify.x12.json_view import amount_str, interchange_to_dict
from cptverify.x12.reader271 import read_271
from cptverify_local.cli import main
from tests.x12.builders import CANARY_DOB, CANARY_LAST, CANARY_MEMBER, SUBSCRIBER_BODY, make_271

CANARIES = (CANARY_LAST, CANARY_MEMBER, CANARY_DOB)


def _with_rows(*rows: str) -> str:
    return make_271([*SUBSCRIBER_BODY, *rows])


def _last_benefit(text: str) -> dict[str, object]:
    doc = interchange_to_dict(read_271(text))
    benefits = doc["transactions"][0]["patients"][0]["benefits"]
    return dict(benefits[-1])


# Numbers: an X12 decimal (R) is an optional minus sign, digits and an optional decimal point,
# at most 18 digits. Anything else Python's Decimal happens to accept is not a number here.
@pytest.mark.parametrize(
    "value",
    ["1e999", "1E+999", "1e5", "1e-999", "1_000", "+5", "\u0661\u0662\u0663", "9" * 19 + ".99"],
)
@pytest.mark.parametrize(
    ("template", "field"),
    [
        ("EB*C*IND*30**X*29*{}*****Y", "amount"),
        ("EB*A*IND*30**X*27**{}****Y", "percent"),
        ("EB*F*IND*30**X*22***VS*{}**Y", "quantity"),
    ],
)
def test_numbers_outside_the_x12_decimal_form_are_warned_and_null(
    value: str, template: str, field: str
) -> None:
    text = _with_rows(template.format(value))
    ic = read_271(text)
    benefit = _last_benefit(text)
    assert benefit[field] is None
    position = ic.transactions[0].patients[0].benefits[-1].segment
    assert ("number_invalid", position) in {(w.code, w.segment) for w in ic.warnings}
    json.dumps(interchange_to_dict(ic))


@pytest.mark.parametrize("value", ["1e999", "1_000", "+5"])
def test_hsd_numbers_outside_the_x12_decimal_form_are_null(value: str) -> None:
    text = _with_rows("EB*F*IND*30**X*22***VS*5**Y", f"HSD*VS*{value}*DA**7*{value}")
    delivery = _last_benefit(text)["delivery"]
    assert isinstance(delivery, list)
    assert delivery[0]["quantity"] is None and delivery[0]["periods"] is None


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("-5", "-5.00"),
        ("-0", "0.00"),
        ("-.00", "0.00"),
        ("10", "10.00"),
        (".5", "0.50"),
        ("1" + "0" * 17, None),
    ],
)
def test_valid_x12_decimals_still_read(value: str, shown: str | None) -> None:
    amount = _last_benefit(_with_rows(f"EB*C*IND*30**X*29*{value}*****Y"))["amount"]
    assert amount == (shown if shown is not None else value + ".00")


def test_amount_str_never_raises_on_a_huge_decimal() -> None:
    from decimal import Decimal

    assert amount_str(Decimal("1e999")) is not None


def test_cli_json_rendering_failure_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cptverify_local.commands import parse as parse_command

    good = tmp_path / "good.x12"
    good.write_text(make_271())
    bad = tmp_path / "bad.x12"
    bad.write_text(make_271())

    real = parse_command.interchange_to_dict

    def exploding(ic: object, hook: object = None) -> dict[str, object]:
        if exploding.calls == 0:  # type: ignore[attr-defined]
            exploding.calls += 1  # type: ignore[attr-defined]
            raise ArithmeticError(CANARY_LAST)
        return real(ic, hook)  # type: ignore[arg-type]

    exploding.calls = 0  # type: ignore[attr-defined]
    monkeypatch.setattr(parse_command, "interchange_to_dict", exploding)
    code = main(["parse", str(bad), str(good), "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and CANARY_LAST not in err
    files = [item["file"] for item in json.loads(out)]
    assert files == [str(good)]


# Delimiters
def test_component_separator_equal_to_terminator_is_a_typed_error() -> None:
    text = make_271(terminator=":")
    with pytest.raises(NotX12Error) as caught:
        read_271(text)
    assert caught.value.segment == 1
    for canary in CANARIES:
        assert canary not in str(caught.value)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_a_byte_order_mark_are_read(encoding: str) -> None:
    text = make_271()
    data = text.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):
        data = "\ufeff".encode(encoding) + data
    ic = read_271(data)
    assert ic.transactions[0].patients[0].last_name == CANARY_LAST
    assert len(ic.transactions[0].patients[0].benefits) == 8


def test_utf16_without_a_byte_order_mark_is_a_typed_error() -> None:
    with pytest.raises(X12Error):
        read_271(make_271().encode("utf-16-le"))


# 2120 loops and AAA placement
def test_aaa_inside_ls_le_before_any_eb_is_not_lost() -> None:
    body = list(SUBSCRIBER_BODY)
    first_eb = next(i for i, seg in enumerate(body) if seg.startswith("EB*"))
    body[first_eb:first_eb] = ["LS*2120", "NM1*P3*1*TESTDOC", "AAA*Y**42*R", "LE*2120"]
    ic = read_271(make_271(body))
    patient = ic.transactions[0].patients[0]
    assert [a.code for a in patient.errors] == ["42"]
    assert patient.errors[0].loop == "2120C"
    assert patient.coverage_status == "rejected"
    assert "ls_misplaced" in {w.code for w in ic.warnings}


def test_aaa_inside_ls_le_before_any_hl_is_a_transaction_error() -> None:
    body = ["LS*2120", "AAA*Y**42*R", "LE*2120", *SUBSCRIBER_BODY]
    ic = read_271(make_271(body))
    assert [a.code for a in ic.transactions[0].errors] == ["42"]
    assert ic.transactions[0].patients[0].coverage_status == "rejected"


def test_entity_inside_ls_le_before_any_eb_is_kept() -> None:
    body = list(SUBSCRIBER_BODY)
    first_eb = next(i for i, seg in enumerate(body) if seg.startswith("EB*"))
    body[first_eb:first_eb] = ["LS*2120", "NM1*P3*1*ORPHANDOC*GAMMA", "LE*2120"]
    ic = read_271(make_271(body))
    coverage = ic.transactions[0].patients[0].coverage
    assert "ORPHANDOC" in [e.last_name for e in coverage.related_entities]


def test_nested_ls_is_warned() -> None:
    ic = read_271(_with_rows("EB*1**30", "LS*2120", "NM1*P3*1*A", "LS*2120", "LE*2120"))
    assert "le_missing" in {w.code for w in ic.warnings}


# HL tree
def test_repeated_hl_id_is_warned_and_both_patients_kept() -> None:
    ic = read_271(_with_rows("HL*3*2*22*0", "NM1*IL*1*OTHER*PAT****MI*M2", "EB*1**30"))
    assert len(ic.transactions[0].patients) == 2
    assert "hl_id_repeated" in {w.code for w in ic.warnings}


def test_patient_level_without_a_parent_is_warned() -> None:
    body = ["HL*1**20*1", "NM1*PR*2*P*****PI*1", "HL*2**23*0", "NM1*03*1*DEP", "EB*1**30"]
    ic = read_271(make_271(body))
    assert ("hl_parent_missing", 6) in {(w.code, w.segment) for w in ic.warnings}


# Dates
@pytest.mark.parametrize("value", ["20250101-", "-20250101", "20250101"])
def test_rd8_with_a_missing_half_is_warned(value: str) -> None:
    ic = read_271(_with_rows("EB*1**30", f"DTP*348*RD8*{value}"))
    assert "date_invalid" in {w.code for w in ic.warnings}


def test_many_transactions_one_broken_keeps_the_others() -> None:
    text = make_271()
    segments = text.split("~")
    start = next(i for i, s in enumerate(segments) if s.startswith("ST*"))
    end = next(i for i, s in enumerate(segments) if s.startswith("SE*"))
    txn = segments[start : end + 1]
    broken = [s if not s.startswith("EB*") else "EB*B*IND*98**X*27*1e999" for s in txn]
    body = txn * 76 + broken + txn * 76
    ic = read_271("~".join(segments[:start] + body + segments[end + 1 :]))
    assert len(ic.transactions) == 153
    json.dumps(interchange_to_dict(ic))


def test_cli_tables_never_pass_terminal_control_codes_from_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = [seg.replace("*PAT****", "*P\x1b]0;TITLE\x07\x1b[2J****") for seg in SUBSCRIBER_BODY]
    path = tmp_path / "escape.x12"
    path.write_text(make_271([*body, "MSG*X\x1b[31mRED\x9b2J"]))
    code = main(["parse", str(path), "--cpt", "99213"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert "CANARYLAST" in out


def _three_transactions() -> str:
    segments = make_271().split("~")
    start = next(i for i, s in enumerate(segments) if s.startswith("ST*"))
    end = next(i for i, s in enumerate(segments) if s.startswith("SE*"))
    body = segments[start : end + 1] * 3
    return "~".join(segments[:start] + body + segments[end + 1 :])


def test_a_transaction_that_cannot_be_walked_does_not_sink_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cptverify.x12 import reader271

    real = reader271._Walker.dmg
    calls: list[int] = []

    def dmg_failing_once(self: object, seg: list[str], pos: int) -> None:
        calls.append(pos)
        if len(calls) == 2:
            raise IndexError(CANARY_DOB)
        real(self, seg, pos)  # type: ignore[arg-type]

    monkeypatch.setattr(reader271._Walker, "dmg", dmg_failing_once)
    ic = read_271(_three_transactions())
    assert len(ic.transactions) == 2
    unreadable = [w for w in ic.warnings if w.code == "transaction_unreadable"]
    assert [w.segment for w in unreadable] == [calls[1]]
    for canary in CANARIES:
        assert canary not in json.dumps(interchange_to_dict(ic)["warnings"])


def test_when_no_transaction_can_be_walked_the_error_names_the_segment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cptverify.x12 import reader271
    from cptverify.x12.errors import StructureError

    def dmg_failing(self: object, seg: list[str], pos: int) -> None:
        raise KeyError(CANARY_MEMBER)

    monkeypatch.setattr(reader271._Walker, "dmg", dmg_failing)
    with pytest.raises(StructureError) as caught:
        read_271(make_271())
    assert caught.value.segment is not None and CANARY_MEMBER not in str(caught.value)


def test_eb_elements_after_eb13_are_warned_not_silently_dropped() -> None:
    text = _with_rows("EB*B*IND*98*PR*X*27*10.00*****Y*HC:99213*EXTRA*MORE")
    ic = read_271(text)
    position = ic.transactions[0].patients[0].benefits[-1].segment
    assert ("elements_extra", position) in {(w.code, w.segment) for w in ic.warnings}
    assert _last_benefit(text)["amount"] == "10.00"


def test_trailing_empty_eb_elements_are_not_warned() -> None:
    ic = read_271(_with_rows("EB*1**30**GOLD 123 PLAN********"))
    assert "elements_extra" not in {w.code for w in ic.warnings}


def test_eb13_components_after_four_modifiers_are_warned() -> None:
    text = _with_rows("EB*B*IND*98*PR*X*27*10.00*****Y*HC:99213:25:26:27:28:DESC:99215")
    ic = read_271(text)
    assert "components_extra" in {w.code for w in ic.warnings}
    assert _last_benefit(text)["procedure"] == {
        "qualifier": "HC",
        "code": "99213",
        "modifiers": ["25", "26", "27", "28"],
    }


def test_ls_without_le_is_warned_at_the_ls() -> None:
    text = _with_rows("EB*1**30", "LS*2120", "NM1*P3*1*A")
    ic = read_271(text)
    eb_position = ic.transactions[0].patients[0].benefits[-1].segment
    assert eb_position is not None
    ls_position = eb_position + 1
    assert ("le_missing", ls_position) in {(w.code, w.segment) for w in ic.warnings}


@pytest.mark.parametrize(
    "value", ["\u0662\u0665\u0660\u0661\u0660\u0661", "\uff12\uff15\uff10\uff11\uff10\uff11"]
)
def test_six_digit_dates_in_other_scripts_digits_are_invalid(value: str) -> None:
    text = _with_rows("EB*1**30", f"DTP*348*D6*{value}")
    ic = read_271(text)
    assert "date_invalid" in {w.code for w in ic.warnings}
    assert _last_benefit(text)["dates"][0]["start"] is None  # type: ignore[index]


def test_two_interchanges_in_one_file_are_both_read_and_counted_apart() -> None:
    second = make_271().replace(CANARY_LAST, "SECONDPAT")
    ic = read_271(make_271() + "\n" + second)
    names = [p.last_name for t in ic.transactions for p in t.patients]
    assert names == [CANARY_LAST, "SECONDPAT"]
    codes = {w.code for w in ic.warnings}
    assert "isa_repeated" in codes
    assert not codes & {"iea_count", "iea_control_number", "iea_missing", "ge_missing"}


@pytest.mark.parametrize("segment", ["AAA", "AAA*Y", "AAA*N**"])
def test_aaa_without_a_reason_is_kept_as_a_rejection_and_warned(segment: str) -> None:
    body = list(SUBSCRIBER_BODY)
    position = next(i for i, seg in enumerate(body) if seg.startswith("NM1*IL")) + 1
    body.insert(position, segment)
    ic = read_271(make_271(body))
    patient = ic.transactions[0].patients[0]
    assert patient.coverage_status == "rejected"
    assert patient.errors[0].code is None
    assert "element_missing" in {w.code for w in ic.warnings}


def test_eb_without_eb01_is_warned() -> None:
    ic = read_271(_with_rows("EB**IND*30"))
    position = ic.transactions[0].patients[0].benefits[-1].segment
    assert ("element_missing", position) in {(w.code, w.segment) for w in ic.warnings}


# What held up (kept as regression tests): every cut, every terminator, odd ISA widths.
def test_every_truncation_reads_or_raises_a_typed_error() -> None:
    text = make_271()
    for cut in range(len(text)):
        try:
            ic = read_271(text[:cut])
        except X12Error as exc:
            assert exc.segment is None or exc.segment >= 1
            for canary in CANARIES:
                assert canary not in str(exc)
        else:
            json.dumps(interchange_to_dict(ic))


@pytest.mark.parametrize("terminator", ["~", "!", "\n", "\r", "\x1d", "\x85", "\x1c", "'", "|"])
def test_every_terminator_reads_the_same_rows(terminator: str) -> None:
    ic = read_271(make_271(terminator=terminator))
    assert len(ic.transactions[0].patients[0].benefits) == 8
    assert not ic.warnings


@pytest.mark.parametrize("width", [-1, 1])
def test_isa_one_character_short_or_long(width: int) -> None:
    text = make_271()
    padded = "TESTPAYER".ljust(15 + width)
    ic = read_271(text.replace("TESTPAYER".ljust(15), padded, 1))
    assert len(ic.transactions[0].patients[0].benefits) == 8


@pytest.mark.parametrize(
    "data", [b"", b"   \n", b"\xef\xbb\xbf", bytes(range(256)) * 4, b"ISA", b"\x00" * 200]
)
def test_junk_input_is_a_typed_error(data: bytes) -> None:
    with pytest.raises(X12Error):
        read_271(data)


def test_cli_directory_and_missing_file_are_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["parse", str(tmp_path), str(tmp_path / "absent.x12"), "--json"])
    _, err = capsys.readouterr()
    assert code == 2
    assert len(err.strip().splitlines()) == 2 and "Traceback" not in err


def test_ten_thousand_msg_segments_stay_on_their_row() -> None:
    ic = read_271(_with_rows("EB*D*IND*30", *["MSG*NOTE"] * 10_000))
    assert len(ic.transactions[0].patients[0].benefits[-1].messages) == 10_000


def test_a_stray_isa_inside_a_transaction_loses_nothing() -> None:
    body = list(SUBSCRIBER_BODY)
    body.insert(12, "ISA*00")
    ic = read_271(make_271(body))
    assert len(ic.transactions[0].patients[0].benefits) == 8
    assert "isa_repeated" in {w.code for w in ic.warnings}


def test_a_walk_error_chains_no_exception_that_could_quote_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import traceback

    from cptverify.x12 import reader271
    from cptverify.x12.errors import StructureError

    def dmg_failing(self: object, seg: list[str], pos: int) -> None:
        raise KeyError(CANARY_MEMBER)

    monkeypatch.setattr(reader271._Walker, "dmg", dmg_failing)
    with pytest.raises(StructureError) as caught:
        read_271(make_271())
    printed = "".join(traceback.format_exception(caught.value))
    assert CANARY_MEMBER not in printed
