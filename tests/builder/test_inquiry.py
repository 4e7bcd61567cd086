"""The inquiry model: every rule names its field and none repeats the value it rejected."""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from cptverify import inquiry as inquiry_module
from cptverify.inquiry import (
    SERVICE_TYPE_CODES,
    Inquiry,
    core_window,
    field_errors,
    inquiry_json_schema,
    npi_is_valid,
)
from tests.builder.conftest import TODAY, load_fixture, make_inquiry

CANARIES = ("CANARYLAST", "CANARYMEMBER123", "19010203", "CANARY")


def errors_for(data: dict[str, Any], today: date = TODAY) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        make_inquiry(data, today)
    return {item["field"]: item["rule"] for item in field_errors(caught.value)}


def with_change(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(load_fixture("subscriber.json"))
    node: Any = data
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if last.isdigit():
        node[int(last)] = value
    elif value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return data


_DELETE = object()


def test_issue_example_is_accepted() -> None:
    inquiry = make_inquiry(load_fixture("subscriber.json"))

    assert inquiry.claim_id == "CLM-1001"
    assert inquiry.date_of_service == date(2026, 12, 4)
    assert inquiry.provider.network == "in"
    assert inquiry.procedures[0].qualifier == "HC"
    assert inquiry.procedures[1].modifiers == ["GP"]
    assert inquiry.procedures[1].allowed_amount == Decimal("95.00")
    assert inquiry.dependent is None


def test_network_defaults_to_unknown_and_cdt_defaults_to_ad() -> None:
    data = with_change("provider.network", _DELETE)
    data["procedures"] = [{"code": "d0120"}, {"code": "D0150", "qualifier": "AD"}]

    inquiry = make_inquiry(data)

    assert inquiry.network == "unknown"
    assert [(p.qualifier, p.code) for p in inquiry.procedures] == [
        ("AD", "D0120"),
        ("AD", "D0150"),
    ]


@pytest.mark.parametrize("code", ["99213", "0001F", "0042T", "0001U", "J3490", "G0438", "E0114"])
def test_medical_code_shapes_accepted(code: str) -> None:
    inquiry = make_inquiry(with_change("procedures.0", {"code": code}))

    assert inquiry.procedures[0].code == code
    assert inquiry.procedures[0].qualifier == "HC"


@pytest.mark.parametrize(
    ("path", "value", "field", "rule_word"),
    [
        ("provider.npi", "123456789", "provider.npi", "10 digits"),
        ("provider.npi", 1234567893, "provider.npi", "string"),
        ("provider.npi", "1234567890", "provider.npi", "check digit"),
        ("date_of_service", "12/04/2026", "date_of_service", "YYYY-MM-DD"),
        ("date_of_service", 20261204, "date_of_service", "YYYY-MM-DD"),
        ("date_of_service", "2026-02-30", "date_of_service", "real calendar date"),
        ("date_of_service", "2025-12-02", "date_of_service", "12 months"),
        ("date_of_service", "2027-01-01", "date_of_service", "end of the current month"),
        ("subscriber.birth_date", "1980-13-01", "subscriber.birth_date", "real calendar date"),
        ("subscriber.birth_date", "2027-01-01", "subscriber.birth_date", "future"),
        ("subscriber.gender", "X", "subscriber.gender", "'M'"),
        ("subscriber.member_id", "W1*23", "subscriber.member_id", "letters, digits"),
        ("subscriber.last_name", "DOE~", "subscriber.last_name", "letters"),
        ("subscriber.first_name", "", "subscriber.first_name", "at least 1"),
        ("procedures.0.code", "9921", "procedures[0].code", "CPT"),
        ("procedures.0.code", "ABCDE", "procedures[0].code", "HCPCS"),
        ("procedures.1.modifiers", ["GP", "59", "XS", "KX", "76"], "procedures[1].modifiers", "4"),
        ("procedures.1.modifiers", ["G"], "procedures[1].modifiers", "2 letters"),
        ("procedures.1.allowed_amount", "-1.00", "procedures[1].allowed_amount", "negative"),
        ("procedures.1.allowed_amount", "1.005", "procedures[1].allowed_amount", "two decimal"),
        ("procedures.1.allowed_amount", "ten", "procedures[1].allowed_amount", "decimal amount"),
        ("procedures.1.allowed_amount", "NaN", "procedures[1].allowed_amount", "decimal amount"),
        ("procedures.1.allowed_amount", True, "procedures[1].allowed_amount", "decimal amount"),
        ("provider.network", "maybe", "provider.network", "'in'"),
        ("service_types", ["ZZ"], "service_types", "service type"),
        ("service_types", ["98", "98"], "service_types", "repeat"),
        ("claim_id", "CLM 1", "claim_id", "letters, digits"),
        ("payer.id", "A", "payer.id", "at least 2"),
        ("extra", "x", "extra", "not permitted"),
    ],
)
def test_each_rule_names_its_field(path: str, value: Any, field: str, rule_word: str) -> None:
    errors = errors_for(with_change(path, value))

    assert field in errors, errors
    assert rule_word in errors[field]


def test_cdt_qualifier_requires_a_cdt_code() -> None:
    errors = errors_for(with_change("procedures.0", {"code": "99213", "qualifier": "AD"}))

    assert "CDT" in errors["procedures[0].code"]


def test_provider_needs_exactly_one_name_form() -> None:
    both = with_change("provider.first_name", "ANNA")
    both["provider"]["last_name"] = "SMITH"
    neither = with_change("provider.organization_name", _DELETE)
    half = with_change("provider.organization_name", _DELETE)
    half["provider"]["last_name"] = "SMITH"

    for data in (both, neither, half):
        errors = errors_for(data)
        assert "organization_name" in errors["provider"]

    person = with_change("provider.organization_name", _DELETE)
    person["provider"].update(first_name="ANNA", last_name="SMITH")
    assert make_inquiry(person).provider.is_person


def test_provider_name_form_is_reported_beside_field_errors() -> None:
    data = with_change("provider.first_name", "ANNA")
    data["provider"].update(last_name="SMITH", npi="1234567890")
    data["claim_id"] = "bad claim id!"

    errors = errors_for(data)

    assert set(errors) == {"provider", "provider.npi", "claim_id"}
    assert "not both" in errors["provider"]
    with pytest.raises(ValidationError) as caught:
        make_inquiry(data)
    assert "1234567890" not in str(caught.value) and "ANNA" not in str(caught.value)


def test_dependent_rules() -> None:
    data = with_change(
        "dependent",
        {
            "first_name": "TIM",
            "last_name": "DOE",
            "birth_date": "2010-01-01",
            "relationship_code": "02",
        },
    )
    errors = errors_for(data)
    assert "dependent.relationship_code" in errors

    data["dependent"]["relationship_code"] = "19"
    del data["dependent"]["birth_date"]
    errors = errors_for(data)
    assert errors["dependent.birth_date"] == "Field required"


def test_something_must_be_asked() -> None:
    data = with_change("procedures", [])

    errors = errors_for(data)

    assert "procedure" in errors["(body)"]
    data["service_types"] = ["30"]
    assert make_inquiry(data).service_types == ["30"]


def test_core_window_edges() -> None:
    assert core_window(date(2026, 12, 3)) == (date(2025, 12, 3), date(2026, 12, 31))
    assert core_window(date(2024, 2, 29)) == (date(2023, 2, 28), date(2024, 2, 29))
    for day in ("2025-12-03", "2026-12-31"):
        assert make_inquiry(with_change("date_of_service", day)).date_of_service.isoformat() == day


def test_clock_is_injectable_without_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inquiry_module, "clock", lambda: date(2026, 12, 3))

    inquiry = Inquiry.model_validate(load_fixture("subscriber.json"))

    assert inquiry.date_of_service == date(2026, 12, 4)
    monkeypatch.setattr(inquiry_module, "clock", lambda: date(2028, 1, 1))
    with pytest.raises(ValidationError):
        Inquiry.model_validate(load_fixture("subscriber.json"))


def test_npi_check_digit() -> None:
    assert npi_is_valid("1234567893")
    assert not npi_is_valid("1234567890")
    assert not npi_is_valid("123456789a")


def test_errors_never_repeat_the_rejected_values() -> None:
    data = load_fixture("invalid.json")

    with pytest.raises(ValidationError) as caught:
        make_inquiry(data)

    exc = caught.value
    texts = [
        str(exc),
        repr(exc),
        json.dumps(field_errors(exc)),
        exc.json(include_input=False, include_url=False),
    ]
    for text in texts:
        for canary in CANARIES:
            assert canary not in text
    assert {e["field"] for e in field_errors(exc)} >= {
        "date_of_service",
        "provider.npi",
        "subscriber.last_name",
        "procedures[0].code",
        "procedures[0].modifiers",
        "procedures[0].allowed_amount",
    }


def test_json_schema_is_exported() -> None:
    schema = inquiry_json_schema()

    assert set(schema["required"]) >= {"claim_id", "date_of_service", "payer", "provider"}
    assert "ProcedureRequest" in schema["$defs"]
    json.dumps(schema)


def test_service_type_codes_match_the_x279a1_map() -> None:
    from tests.conftest import shared_path

    text = shared_path("x12-maps", "270.5010.X279.A1.xml").read_text(encoding="utf-8")
    start = text.index('xid="EQ01"')
    block = text[start : text.index("</valid_codes>", start)]
    codes = {line.strip()[6:-7] for line in block.splitlines() if "<code>" in line}

    assert codes == SERVICE_TYPE_CODES
