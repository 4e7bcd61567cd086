"""The procedure-code to service-type table: well formed, reachable, and as documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cptverify.benefits.crosswalk import (
    DENTAL_RANGES,
    MEDICAL_RANGES,
    category_for,
    find_range,
    service_types_for,
)
from cptverify.inquiry import SERVICE_TYPE_CODES

DOCS = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("code_range", MEDICAL_RANGES + DENTAL_RANGES, ids=lambda r: r.first)
def test_ranges_are_well_formed_and_reachable(code_range: object) -> None:
    from cptverify.benefits.crosswalk import CodeRange

    assert isinstance(code_range, CodeRange)
    assert len(code_range.first) == len(code_range.last) == 5
    assert code_range.first <= code_range.last
    assert code_range.holds(code_range.first) and code_range.holds(code_range.last)
    assert re.fullmatch(r"[a-z][a-z_]*", code_range.category)
    assert code_range.service_types
    assert set(code_range.service_types) <= SERVICE_TYPE_CODES
    qualifier = "AD" if code_range in DENTAL_RANGES else "HC"
    assert find_range(code_range.first, qualifier) is code_range, "shadowed by an earlier range"


@pytest.mark.parametrize(
    ("code", "qualifier", "service_types", "category"),
    [
        ("99213", "HC", ("98", "96"), "office_visit"),
        ("99202", "HC", ("98", "96"), "office_visit"),
        ("97110", "HC", ("PT", "AE"), "physical_therapy"),
        ("97530", "HC", ("PT", "AE"), "physical_therapy"),
        ("97165", "HC", ("AD",), "occupational_therapy"),
        ("92507", "HC", ("AF",), "speech_therapy"),
        ("70551", "HC", ("62",), "mri_ct"),
        ("74177", "HC", ("62",), "mri_ct"),
        ("71046", "HC", ("4",), "imaging"),
        ("77067", "HC", ("4",), "imaging"),
        ("77385", "HC", ("6",), "radiation_therapy"),
        ("80053", "HC", ("5",), "laboratory"),
        ("0001U", "HC", ("5",), "laboratory"),
        ("29881", "HC", ("2",), "surgery"),
        ("10004", "HC", ("2",), "surgery"),
        ("69990", "HC", ("2",), "surgery"),
        ("59400", "HC", ("69", "2"), "maternity"),
        ("00100", "HC", ("7",), "anesthesia"),
        ("01999", "HC", ("7",), "anesthesia"),
        ("90834", "HC", ("MH", "A4"), "mental_health"),
        ("90785", "HC", ("MH", "A4"), "mental_health"),
        ("99283", "HC", ("86",), "emergency"),
        ("99223", "HC", ("48",), "inpatient_visit"),
        ("90686", "HC", ("80",), "immunization"),
        ("90471", "HC", ("80",), "immunization"),
        ("98941", "HC", ("33",), "chiropractic"),
        ("99396", "HC", ("81", "98"), "preventive_visit"),
        ("99392", "HC", ("81", "BH", "98"), "preventive_visit"),
        ("E0114", "HC", ("12", "DM"), "durable_medical_equipment"),
        ("J1100", "HC", ("1",), "administered_drug"),
        ("J9035", "HC", ("78",), "chemotherapy_drug"),
        ("A0425", "HC", ("56",), "ambulance"),
        ("L3000", "HC", ("75",), "orthotic_prosthetic"),
        ("D0120", "AD", ("23", "35"), "dental_diagnostic"),
        ("D1110", "AD", ("41", "35"), "dental_preventive"),
        ("D2391", "AD", ("25", "35"), "dental_restorative"),
        ("D2740", "AD", ("36", "25", "35"), "dental_crown"),
        ("D3330", "AD", ("26", "35"), "endodontics"),
        ("D4341", "AD", ("24", "35"), "periodontics"),
        ("D5110", "AD", ("39", "35"), "prosthodontics_removable"),
        ("D5986", "AD", ("27", "35"), "maxillofacial_prosthetics"),
        ("D6010", "AD", ("39", "35"), "implant_services"),
        ("D6750", "AD", ("39", "36", "35"), "prosthodontics_fixed"),
        ("D7140", "AD", ("40", "35"), "oral_surgery"),
        ("D8080", "AD", ("38", "35"), "orthodontics"),
        ("D9110", "AD", ("28", "35"), "adjunctive_dental"),
    ],
)
def test_documented_mappings(
    code: str, qualifier: str, service_types: tuple[str, ...], category: str
) -> None:
    assert service_types_for(code, qualifier) == service_types
    assert category_for(code, qualifier) == category


def test_cdt_code_sent_as_hc_is_still_dental() -> None:
    assert service_types_for("D0120") == ("23", "35")


@pytest.mark.parametrize("code", ["0500F", "0042T", "99499", "C1713", "S9083", "T1015", "90901"])
def test_unmapped_codes_fall_back_to_plan_coverage(code: str) -> None:
    assert service_types_for(code) == ("30",)
    assert category_for(code) is None


def test_discipline_modifier_decides_shared_therapy_codes() -> None:
    assert service_types_for("97110", "HC", ["GO"]) == ("AD",)
    assert category_for("97530", "HC", ("GN",)) == "speech_therapy"
    assert service_types_for("97110", "HC", ("59", "GP")) == ("PT", "AE")
    assert service_types_for("99213", "HC", ("GO",)) == ("98", "96")


def test_lookup_is_case_and_space_tolerant() -> None:
    assert service_types_for(" e0114 ", "hc") == ("12", "DM")


def test_every_category_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for code_range in MEDICAL_RANGES + DENTAL_RANGES:
        assert f"`{code_range.category}`" in text, code_range.category
        assert code_range.first in text, code_range.first
