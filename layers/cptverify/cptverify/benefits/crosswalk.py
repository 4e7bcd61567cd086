"""Procedure codes to X12 service types: our own table of code ranges and category names.

Most medical payers answer a 270 by service type (EQ01/EB03), not by procedure code, so each
planned procedure is looked up here to know which service-type rows of a 271 speak for it, and
which service types to ask for when a payer does not take procedure codes. The table holds code
ranges and our own category names only, never a code's descriptor text.

Ranges are searched in order; the first that holds the code wins, so narrow ranges come before
the wide range they sit in. A code shaped right but in no range falls back to `30` (health
benefit plan coverage) with no category. Therapy codes shared by physical, occupational and
speech therapists follow the discipline modifier when one is given (GP, GO, GN).
"""

from __future__ import annotations

from dataclasses import dataclass

# Limitation: one table for every payer; a payer's own procedure-to-service-type mapping
# (unpublished, and varying with provider type and place of service) may differ.
FALLBACK_SERVICE_TYPES: tuple[str, ...] = ("30",)
DENTAL_FALLBACK: tuple[str, ...] = ("35",)


@dataclass(frozen=True, slots=True)
class CodeRange:
    """Codes `first`..`last` (inclusive, same shape) belong to `category` and `service_types`."""

    first: str
    last: str
    category: str
    service_types: tuple[str, ...]

    def holds(self, code: str) -> bool:
        return (
            len(code) == len(self.first)
            and _kind(code) == _kind(self.first)
            and self.first <= code <= self.last
        )


def _kind(code: str) -> str:
    """The shape class of a code, so ranges only compare like with like."""
    if code[:1].isalpha():
        return "L" + code[0]
    if code[-1:].isalpha():
        return "N" + code[-1]
    return "N"


def _r(first: str, last: str, category: str, *service_types: str) -> CodeRange:
    return CodeRange(first, last, category, service_types)


PHYSICAL_THERAPY = ("PT", "AE")
OCCUPATIONAL_THERAPY = ("AD",)
SPEECH_THERAPY = ("AF",)

# CPT (HCPCS level I) and HCPCS level II ranges, qualifier HC. Narrow ranges first.
MEDICAL_RANGES: tuple[CodeRange, ...] = (
    # Anesthesia, including the qualifying-circumstance add-ons.
    _r("00100", "01999", "anesthesia", "7"),
    _r("99100", "99140", "anesthesia", "7"),
    # Surgery: maternity care first, then the whole surgery section.
    _r("59000", "59899", "maternity", "69", "2"),
    _r("10004", "69990", "surgery", "2"),
    # Radiology: MRI and CT ranges, radiation oncology, then other imaging.
    _r("70336", "70336", "mri_ct", "62"),
    _r("70450", "70498", "mri_ct", "62"),
    _r("70540", "70559", "mri_ct", "62"),
    _r("71250", "71275", "mri_ct", "62"),
    _r("71550", "71555", "mri_ct", "62"),
    _r("72125", "72133", "mri_ct", "62"),
    _r("72141", "72159", "mri_ct", "62"),
    _r("72191", "72198", "mri_ct", "62"),
    _r("73200", "73225", "mri_ct", "62"),
    _r("73700", "73725", "mri_ct", "62"),
    _r("74150", "74185", "mri_ct", "62"),
    _r("74261", "74263", "mri_ct", "62"),
    _r("75557", "75574", "mri_ct", "62"),
    _r("76380", "76380", "mri_ct", "62"),
    _r("76497", "76498", "mri_ct", "62"),
    _r("77011", "77014", "mri_ct", "62"),
    _r("77021", "77022", "mri_ct", "62"),
    _r("77046", "77049", "mri_ct", "62"),
    _r("77261", "77799", "radiation_therapy", "6"),
    _r("70010", "79999", "imaging", "4"),
    # Pathology and laboratory; proprietary laboratory analyses (4 digits and U) too.
    _r("80047", "89398", "laboratory", "5"),
    _r("0001U", "9999U", "laboratory", "5"),
    # Medicine section.
    _r("90460", "90749", "immunization", "80"),
    _r("90785", "90899", "mental_health", "MH", "A4"),
    _r("90935", "90999", "dialysis", "76"),
    _r("92002", "92499", "vision", "AL"),
    _r("92507", "92508", "speech_therapy", *SPEECH_THERAPY),
    _r("92520", "92526", "speech_therapy", *SPEECH_THERAPY),
    _r("92550", "92700", "audiology", "71"),
    _r("93797", "93798", "cardiac_rehabilitation", "BG"),
    _r("94625", "94626", "pulmonary_rehabilitation", "BF"),
    _r("95004", "95079", "allergy", "79", "GY"),
    _r("95115", "95199", "allergy", "GY", "79"),
    _r("96401", "96549", "chemotherapy", "78"),
    _r("97165", "97168", "occupational_therapy", *OCCUPATIONAL_THERAPY),
    _r("97010", "97546", "physical_therapy", *PHYSICAL_THERAPY),
    _r("97750", "97763", "physical_therapy", *PHYSICAL_THERAPY),
    _r("97810", "97814", "acupuncture", "64"),
    _r("98940", "98943", "chiropractic", "33"),
    # Evaluation and management. Office and outpatient visits also carry 96 (professional,
    # physician): Medicare-style 271s send the Part B deductible under 96, not 98.
    _r("99202", "99215", "office_visit", "98", "96"),
    _r("99221", "99239", "inpatient_visit", "48"),
    _r("99241", "99245", "office_consultation", "3", "98", "96"),
    _r("99251", "99255", "inpatient_consultation", "3", "48"),
    _r("99281", "99288", "emergency", "86"),
    _r("99291", "99292", "critical_care", "48"),
    _r("99381", "99384", "preventive_visit", "81", "BH", "98"),
    _r("99391", "99394", "preventive_visit", "81", "BH", "98"),
    _r("99385", "99387", "preventive_visit", "81", "98"),
    _r("99395", "99397", "preventive_visit", "81", "98"),
    _r("99401", "99429", "preventive_counseling", "81", "98"),
    _r("99460", "99463", "newborn_care", "65"),
    # HCPCS level II (a letter and 4 digits).
    _r("A0021", "A0999", "ambulance", "56"),
    _r("A4000", "A9999", "medical_supplies", "12", "DM"),
    _r("B4000", "B9999", "enteral_parenteral", "12", "DM"),
    _r("E0100", "E9999", "durable_medical_equipment", "12", "DM"),
    _r("G0008", "G0010", "immunization", "80"),
    _r("G0438", "G0439", "preventive_visit", "81", "98"),
    _r("H0001", "H2037", "behavioral_health", "MH"),
    _r("J9000", "J9999", "chemotherapy_drug", "78"),
    _r("J0100", "J8999", "administered_drug", "1"),
    _r("K0001", "K0999", "durable_medical_equipment", "12", "DM"),
    _r("L0100", "L9999", "orthotic_prosthetic", "75"),
    _r("P2028", "P9999", "laboratory", "5"),
    _r("R0070", "R0076", "imaging", "4"),
    _r("V2020", "V2025", "eyewear", "AM", "AL"),
    _r("V2100", "V2799", "eyewear", "AO", "AL"),
    _r("V5008", "V5299", "audiology", "71"),
)

# CDT (qualifier AD): every dental code is asked as its category's service types, then 35.
DENTAL_RANGES: tuple[CodeRange, ...] = (
    _r("D0100", "D0999", "dental_diagnostic", "23", "35"),
    _r("D1000", "D1999", "dental_preventive", "41", "35"),
    _r("D2710", "D2799", "dental_crown", "36", "25", "35"),
    _r("D2000", "D2999", "dental_restorative", "25", "35"),
    _r("D3000", "D3999", "endodontics", "26", "35"),
    _r("D4000", "D4999", "periodontics", "24", "35"),
    _r("D5900", "D5999", "maxillofacial_prosthetics", "27", "35"),
    _r("D5000", "D5899", "prosthodontics_removable", "39", "35"),
    _r("D6000", "D6199", "implant_services", "39", "35"),
    _r("D6200", "D6999", "prosthodontics_fixed", "39", "36", "35"),
    _r("D7000", "D7999", "oral_surgery", "40", "35"),
    _r("D8000", "D8999", "orthodontics", "38", "35"),
    _r("D9000", "D9999", "adjunctive_dental", "28", "35"),
)

# Discipline modifiers on therapy codes shared by PT, OT and speech therapists.
THERAPY_MODIFIERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "GP": ("physical_therapy", PHYSICAL_THERAPY),
    "GO": ("occupational_therapy", OCCUPATIONAL_THERAPY),
    "GN": ("speech_therapy", SPEECH_THERAPY),
}
_THERAPY_CATEGORIES = frozenset({"physical_therapy", "occupational_therapy", "speech_therapy"})


def _is_dental(code: str, qualifier: str) -> bool:
    return qualifier == "AD" or (len(code) == 5 and code[0] == "D" and code[1:].isdigit())


def find_range(code: str, qualifier: str = "HC") -> CodeRange | None:
    """The first table range holding `code`, or None."""
    code = code.strip().upper()
    ranges = DENTAL_RANGES if _is_dental(code, qualifier.upper()) else MEDICAL_RANGES
    for code_range in ranges:
        if code_range.holds(code):
            return code_range
    return None


def _therapy_override(
    found: CodeRange | None, modifiers: tuple[str, ...] | list[str]
) -> tuple[str, tuple[str, ...]] | None:
    if found is None or found.category not in _THERAPY_CATEGORIES:
        return None
    for modifier in modifiers:
        override = THERAPY_MODIFIERS.get(modifier.upper())
        if override is not None:
            return override
    return None


def service_types_for(
    code: str, qualifier: str = "HC", modifiers: tuple[str, ...] | list[str] = ()
) -> tuple[str, ...]:
    """The service types a payer is likely to answer `code` under, most specific first."""
    found = find_range(code, qualifier)
    override = _therapy_override(found, modifiers)
    if override is not None:
        return override[1]
    if found is not None:
        return found.service_types
    return (
        DENTAL_FALLBACK
        if _is_dental(code.strip().upper(), qualifier.upper())
        else (FALLBACK_SERVICE_TYPES)
    )


def category_for(
    code: str, qualifier: str = "HC", modifiers: tuple[str, ...] | list[str] = ()
) -> str | None:
    """Our own category name for `code` (`office_visit`, `physical_therapy`, ...), or None."""
    found = find_range(code, qualifier)
    override = _therapy_override(found, modifiers)
    if override is not None:
        return override[0]
    return found.category if found is not None else None
