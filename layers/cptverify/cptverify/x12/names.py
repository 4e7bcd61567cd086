"""Name hygiene for the 270: CAQH CORE rule 258 last-name normalisation and safe X12 text.

Rule 258 asks that a submitted last name be compared after two steps: a generational or
ordinal suffix written after the name (separated by a space or punctuation) is dropped, and
every special character is removed. We apply the same steps before sending, so a payer that
matches strictly still finds `O'Donnell-Griswold, Jr.` as `ODONNELLGRISWOLD`. Letters with
accents are reduced to their base letter (X12's character set is ASCII).
"""

from __future__ import annotations

import re
import unicodedata

# Suffixes dropped from the end of a last name when something precedes them.
NAME_SUFFIXES = frozenset(
    {"JR", "SR", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"}
    | {"1ST", "2ND", "3RD", "4TH", "5TH", "6TH", "7TH", "8TH", "9TH", "10TH"}
)
_TOKEN_RE = re.compile(r"[A-Z0-9]+")
_SAFE_TEXT_RE = re.compile(r"[^A-Z0-9 &'\-.,/#()]")


def to_ascii_upper(value: str) -> str:
    """Upper case with accents removed: `Müller` -> `MULLER`; letters without a base are dropped."""
    decomposed = unicodedata.normalize("NFKD", value)
    return decomposed.encode("ascii", "ignore").decode("ascii").upper()


def normalize_last_name(value: str) -> str:
    """A last name as CORE rule 258 compares it: suffixes removed, then special characters.

    The suffix must follow the name, separated by a space or punctuation (`DOE JR`, `DOE, JR.`,
    `DOE-III`); a name made only of a suffix-like word (`IV`) is kept. Spaces count as special
    characters, so `VAN DYKE` becomes `VANDYKE`.
    """
    # Limitation: letters with no ASCII base (other scripts) are dropped; a name written only
    # in such letters normalises to "", which inquiry validation refuses by field.
    tokens = _TOKEN_RE.findall(to_ascii_upper(value))
    while len(tokens) > 1 and tokens[-1] in NAME_SUFFIXES:
        tokens.pop()
    return "".join(tokens)


def clean_text(value: str, forbidden: str = "") -> str:
    """Free text (a first name, an organization) reduced to characters safe in an X12 element.

    Keeps A-Z, 0-9, space and & ' - . , / # ( ); removes any character in `forbidden` (the
    delimiters in use) and collapses runs of spaces.
    """
    text = _SAFE_TEXT_RE.sub("", to_ascii_upper(value))
    for char in forbidden:
        text = text.replace(char, "")
    return " ".join(text.split())
