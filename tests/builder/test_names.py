"""CAQH CORE rule 258 last-name normalisation and safe X12 text."""

from __future__ import annotations

import pytest

from cptverify.x12.names import clean_text, normalize_last_name, to_ascii_upper


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("O'Donnell-Griswold", "ODONNELLGRISWOLD"),
        ("Doe", "DOE"),
        ("DOE JR", "DOE"),
        ("Doe, Jr.", "DOE"),
        ("Doe Sr", "DOE"),
        ("SMITH-III", "SMITH"),
        ("Smith, IV", "SMITH"),
        ("King 2nd", "KING"),
        ("Doe, Jr., III", "DOE"),
        ("Van Dyke", "VANDYKE"),
        ("St. John", "STJOHN"),
        ("García-López", "GARCIALOPEZ"),
        ("Müller", "MULLER"),
        ("IV", "IV"),
        ("JR", "JR"),
        ("Juniper", "JUNIPER"),
        ("Vi", "VI"),
        ("Lee I", "LEE"),
    ],
)
def test_core_258_last_names(raw: str, normalised: str) -> None:
    assert normalize_last_name(raw) == normalised


def test_suffix_inside_a_name_is_kept() -> None:
    assert normalize_last_name("Jr Smith") == "JRSMITH"
    assert normalize_last_name("Ivanov") == "IVANOV"


def test_clean_text_keeps_safe_characters_and_drops_delimiters() -> None:
    assert clean_text("Best Care Clinic & Rehab, P.C.") == "BEST CARE CLINIC & REHAB, P.C."
    assert clean_text("A*B:C^D~E|F") == "ABCDEF"
    assert clean_text("Mary-Ann", forbidden="-") == "MARYANN"
    assert clean_text("  Zoë   Anne ") == "ZOE ANNE"


def test_ascii_upper() -> None:
    assert to_ascii_upper("Ñandú") == "NANDU"
