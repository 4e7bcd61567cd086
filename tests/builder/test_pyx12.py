"""Every 270 we build passes pyx12 with the 005010X279A1 map (skips without ../shared)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cptverify.x12.builder270 import (
    EnvelopeConfig,
    PayerCapabilities,
    build_270,
    sequential_control_numbers,
)
from tests.builder.conftest import NOW, load_fixture, make_inquiry
from tests.builder.x279a1 import validate

CONFIG = EnvelopeConfig(sender_id="CPTVERIFY", receiver_id="ACME01", line_break=True)


def person_provider(data: dict[str, Any]) -> dict[str, Any]:
    data["provider"] = {"npi": "1234567893", "first_name": "ANNA", "last_name": "SMITH, JR"}
    return data


def dental(data: dict[str, Any]) -> dict[str, Any]:
    data["procedures"] = [{"code": "D0120"}, {"code": "D1110"}, {"code": "D2740"}]
    return data


def no_birth_date(data: dict[str, Any]) -> dict[str, Any]:
    data["subscriber"]["birth_date"] = None
    data["service_types"] = ["30", "MH"]
    return data


CASES: dict[str, tuple[str, Any, PayerCapabilities]] = {
    "subscriber": ("subscriber.json", None, PayerCapabilities()),
    "dependent": ("dependent.json", None, PayerCapabilities()),
    "five procedures with modifiers": ("five-procedures.json", None, PayerCapabilities()),
    "person provider": ("subscriber.json", person_provider, PayerCapabilities()),
    "organization provider": ("five-procedures.json", None, PayerCapabilities()),
    "split inquiry": (
        "five-procedures.json",
        None,
        PayerCapabilities(max_procedures_per_inquiry=2),
    ),
    "service types instead of codes": (
        "five-procedures.json",
        None,
        PayerCapabilities(accepts_procedure_codes=False, accepts_gender=False),
    ),
    "dependent without codes": (
        "dependent.json",
        None,
        PayerCapabilities(accepts_procedure_codes=False),
    ),
    "dental codes": ("subscriber.json", dental, PayerCapabilities()),
    "no birth date, service types": ("subscriber.json", no_birth_date, PayerCapabilities()),
}


@pytest.mark.parametrize("case", list(CASES))
def test_built_270_passes_pyx12(case: str, x279a1_map_dir: Path, tmp_path: Path) -> None:
    name, change, capabilities = CASES[case]
    data = load_fixture(name)
    if change is not None:
        data = change(data)
    inquiry = make_inquiry(data)

    result = build_270(
        inquiry, CONFIG, capabilities, control_numbers=sequential_control_numbers(), now=NOW
    )

    for built in result.interchanges:
        report = validate(built.x12, x279a1_map_dir, tmp_path)
        assert report.ok, report.errors
        assert report.transactions == 1
    if case == "split inquiry":
        assert result.payer_calls == 3


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("EQ**HC:99213~", "EQ*Z9~"),
        ("DMG*D8*19800115*F~", "DMG*D8*1980011*F~"),
        ("*PI*ACME01~", "~"),
    ],
)
def test_pyx12_sees_planted_errors(
    old: str, new: str, x279a1_map_dir: Path, tmp_path: Path
) -> None:
    inquiry = make_inquiry(load_fixture("subscriber.json"))
    built = build_270(
        inquiry, CONFIG, control_numbers=sequential_control_numbers(), now=NOW
    ).interchanges[0]
    assert old in built.x12

    report = validate(built.x12.replace(old, new), x279a1_map_dir, tmp_path)

    assert not report.ok
