"""Adversarial inquiries and envelope settings: each test is one kind of bad input that once
passed validation and reached a 270, or was refused when it should not have been."""

from __future__ import annotations

import copy
import dataclasses
import json
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cptverify.inquiry import field_errors
from cptverify.x12.builder270 import (
    BuildError,
    EnvelopeConfig,
    build_270,
    sequential_control_numbers,
)
from cptverify.x12.reader270 import read_270
from cptverify_local.cli import main
from tests.builder.conftest import load_fixture, make_inquiry

CONFIG = EnvelopeConfig(sender_id="CPTVERIFY", receiver_id="ACME01")
NOW = datetime(2026, 12, 3, 14, 30, 5, tzinfo=UTC)


def _changed(path: str, value: Any, fixture: str = "subscriber.json") -> dict[str, Any]:
    data = copy.deepcopy(load_fixture(fixture))
    node: Any = data
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value
    return data


def _fields(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        make_inquiry(data)
    return {item["field"]: item["rule"] for item in field_errors(caught.value)}


def _x12(data: dict[str, Any], config: EnvelopeConfig = CONFIG) -> str:
    result = build_270(
        make_inquiry(data), config, control_numbers=sequential_control_numbers(), now=NOW
    )
    return "".join(built.x12 for built in result.interchanges)


FULLWIDTH_NPI = "".join(chr(ord(c) + 0xFEE0) for c in "1234567893")
ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x0660 + i) for i in range(10)))


# Digits of other scripts pass str.isdigit() and regex \d, but X12 carries ASCII only.
@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("provider.npi", FULLWIDTH_NPI, "provider.npi"),
        ("provider.npi", "1234567893".translate(ARABIC_INDIC), "provider.npi"),
        ("procedures.0.code", "99213".translate(ARABIC_INDIC), "procedures[0].code"),
        ("procedures.0.code", "G0101".translate(ARABIC_INDIC), "procedures[0].code"),
        ("procedures.0.code", "D0120".translate(ARABIC_INDIC), "procedures[0].code"),
        ("procedures.0.modifiers", ["\u00df"], "procedures[0].modifiers"),
        (
            "procedures.0.allowed_amount",
            "95".translate(ARABIC_INDIC),
            "procedures[0].allowed_amount",
        ),
        ("procedures.0.allowed_amount", "1_000", "procedures[0].allowed_amount"),
        ("procedures.0.allowed_amount", "1E+2", "procedures[0].allowed_amount"),
        ("date_of_service", "2026-12-04".translate(ARABIC_INDIC), "date_of_service"),
    ],
)
def test_non_ascii_digits_and_odd_number_forms_are_refused(
    path: str, value: Any, field: str
) -> None:
    errors = _fields(_changed(path, value))
    assert field in errors


def test_negative_zero_allowed_amount_is_zero() -> None:
    inquiry = make_inquiry(_changed("procedures.0.allowed_amount", "-0.00"))
    assert str(inquiry.procedures[0].allowed_amount) == "0.00"


def test_decomposed_accents_are_accepted_like_composed_ones() -> None:
    decomposed = unicodedata.normalize("NFD", "Jos\u00e9 Ren\u00e9e")
    data = _changed("subscriber.first_name", decomposed)
    data["subscriber"]["last_name"] = unicodedata.normalize("NFD", "N\u00fa\u00f1ez")
    x12 = _x12(data)
    assert "*NUNEZ*JOSE RENEE*" in x12


def test_every_built_270_is_ascii_and_reads_back() -> None:
    data = _changed("subscriber.first_name", "Zo\u00eb \u00c5ngstr\u00f6m")
    data["payer"]["name"] = "\u00dcnited H\u00e9alth"
    x12 = _x12(data)
    assert x12.isascii()
    assert read_270(x12)[0].subscriber is not None


@pytest.mark.parametrize("birth_date", ["0001-01-01", "0999-12-31"])
def test_d8_dates_are_always_eight_digits(birth_date: str) -> None:
    # Validation refuses such a birth date; the builder still writes eight digits.
    inquiry = make_inquiry(load_fixture("subscriber.json"))
    subscriber = inquiry.subscriber.model_copy(
        update={"birth_date": datetime.fromisoformat(birth_date).date()}
    )
    built = build_270(
        inquiry.model_copy(update={"subscriber": subscriber}),
        CONFIG,
        control_numbers=sequential_control_numbers(),
        now=NOW,
    )
    request = read_270(built.interchanges[0].x12)[0]
    assert request.subscriber is not None
    assert request.subscriber.birth_date is not None
    assert request.subscriber.birth_date.isoformat() == birth_date
    assert not [w for w in request.warnings if w.code == "dmg_date"]


@pytest.mark.parametrize(
    ("path", "fixture"),
    [("subscriber.birth_date", "subscriber.json"), ("dependent.birth_date", "dependent.json")],
)
def test_birth_dates_before_1900_are_refused_by_field(path: str, fixture: str) -> None:
    errors = _fields(_changed(path, "1899-12-31", fixture))
    assert path in errors


@pytest.mark.parametrize(
    "settings",
    [
        {"segment_terminator": "\x85"},
        {"element_separator": "\u00a6"},
        {"element_separator": "\n"},
        {"element_separator": "\t"},
        {"component_separator": " "},
        {"repetition_separator": "\r"},
    ],
)
def test_delimiters_must_be_ascii_and_element_ones_not_whitespace(
    settings: dict[str, Any],
) -> None:
    config = dataclasses.replace(CONFIG, **settings)
    with pytest.raises(BuildError):
        _x12(load_fixture("subscriber.json"), config)


@pytest.mark.parametrize("terminator", ["\n", "\r", "\x1d", "!"])
def test_control_and_newline_terminators_still_build_and_read_back(terminator: str) -> None:
    config = EnvelopeConfig(
        sender_id="CPTVERIFY", receiver_id="ACME01", segment_terminator=terminator
    )
    x12 = _x12(load_fixture("subscriber.json"), config)
    assert len(read_270(x12)) == 1


def test_ninety_nine_procedures_with_four_modifiers_each() -> None:
    data = _changed("procedures", [{"code": "97110", "modifiers": ["GP", "59", "KX", "25"]}] * 99)
    x12 = _x12(data)
    requests = read_270(x12)
    assert len(requests[0].procedures) == 99
    assert all(p.modifiers == ["GP", "59", "KX", "25"] for p in requests[0].procedures)


def _two_subscribers_with_one_hl_id() -> str:
    x12 = _x12(load_fixture("subscriber.json"))
    first_se = x12.index("~SE*")
    extra = "~HL*3*2*22*0~NM1*IL*1*SECONDPAT*ANN****MI*M2~EQ*98"
    return x12[:first_se] + extra + x12[first_se:]


def test_read_270_keeps_both_levels_of_a_repeated_hl_id() -> None:
    requests = read_270(_two_subscribers_with_one_hl_id())
    names = [r.subscriber.last_name if r.subscriber else None for r in requests]
    assert len(names) == 2 and names[1] == "SECONDPAT" and names[0] != "SECONDPAT"
    assert all(r.payer is not None and r.provider is not None for r in requests)
    assert "hl_id_repeated" in {w.code for w in requests[0].warnings}


def test_read_270_warns_about_segments_before_the_first_hl() -> None:
    x12 = _x12(load_fixture("subscriber.json")).replace("~HL*1*", "~EQ*98~HL*1*", 1)
    warnings = read_270(x12)[0].warnings
    assert "outside_hl" in {w.code for w in warnings}


def _build_cli(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, str]:
    code = main(["build-270", str(path), "--today", "2026-12-03"])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_reads_a_request_with_a_utf8_byte_order_mark(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(load_fixture("subscriber.json")).encode())
    code, out, _ = _build_cli(capsys, path)
    assert code == 0 and out.startswith("ISA")


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, '{"claim_id": ' + "1" * 5000 + "}"],
    ids=["deeply_nested", "huge_integer"],
)
def test_cli_json_the_parser_cannot_hold_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = tmp_path / "request.json"
    path.write_text(text)
    code, out, err = _build_cli(capsys, path)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("subscriber.last_name", "\u738b", "subscriber.last_name"),
        (
            "subscriber.last_name",
            "\u03a0\u03b1\u03c0\u03b1\u03b4\u03cc\u03c0\u03bf\u03c5\u03bb\u03bf\u03c2",
            "subscriber.last_name",
        ),
        ("payer.name", "\u533b\u7642\u4fdd\u967a", "payer.name"),
        ("provider.organization_name", "\u8bca\u6240", "provider.organization_name"),
    ],
)
def test_names_with_nothing_x12_can_carry_are_refused_by_field(
    path: str, value: str, field: str
) -> None:
    errors = _fields(_changed(path, value))
    assert field in errors
    assert value not in errors[field]


def test_person_provider_and_dependent_last_names_are_checked_too() -> None:
    data = _changed("provider", {"npi": "1234567893", "first_name": "A", "last_name": "\u738b"})
    assert "provider.last_name" in _fields(data)
    data = load_fixture("dependent.json")
    data["dependent"]["last_name"] = "\u738b"
    assert "dependent.last_name" in _fields(data)


def test_a_first_name_without_latin_letters_is_still_accepted() -> None:
    x12 = _x12(_changed("subscriber.first_name", "\u79c0\u82f1"))
    assert read_270(x12)[0].subscriber is not None


def test_read_270_reads_a_long_chain_of_levels_in_linear_time() -> None:
    x12 = _x12(load_fixture("subscriber.json"))
    chain = "".join(f"~HL*{i}*{i - 1}*23*1~NM1*03*1*DEP{i}~EQ*30" for i in range(4, 20_004))
    first_se = x12.index("~SE*")
    requests = read_270(x12[:first_se] + chain + x12[first_se:])
    assert len(requests) == 20_001
    assert requests[-1].subscriber is not None and requests[-1].payer is not None


@pytest.mark.parametrize(
    "settings",
    [
        {"sender_id": "S"},
        {"receiver_id": "R"},
        {"sender_id": "   "},
        {"application_sender": "A*B"},
        {"application_receiver": "X"},
        {"application_receiver": "\u00dcBER"},
    ],
)
def test_envelope_ids_that_make_an_invalid_isa_or_gs_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(BuildError):
        _x12(load_fixture("subscriber.json"), dataclasses.replace(CONFIG, **settings))


def test_a_one_character_isa_id_is_fine_with_its_own_gs_id() -> None:
    config = dataclasses.replace(CONFIG, sender_id="S", application_sender="SENDER")
    x12 = _x12(load_fixture("subscriber.json"), config)
    assert "~GS*HS*SENDER*ACME01*" in x12


def test_read_270_leaves_out_a_transaction_it_cannot_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    from cptverify.x12 import reader270
    from cptverify.x12.errors import StructureError

    real = reader270._eq
    calls: list[int] = []

    def eq_failing_once(
        seg: list[str], component: str, repetition: str | None, position: int
    ) -> Any:
        calls.append(position)
        if len(calls) == 1:
            raise IndexError("CANARYLAST")
        return real(seg, component, repetition, position)

    one = _x12(load_fixture("subscriber.json"))
    start, end = one.index("ST*"), one.index("GE*")
    two = one[:end] + one[start:end] + one[end:]
    monkeypatch.setattr(reader270, "_eq", eq_failing_once)
    requests = read_270(two)
    assert len(requests) == 1
    codes = {w.code for w in requests[0].warnings}
    assert "transaction_unreadable" in codes
    assert all("CANARY" not in w.message for w in requests[0].warnings)
    calls.clear()
    with pytest.raises(StructureError):
        read_270(one)
