"""The schedule CSV: its columns, their accepted spellings, and a streaming row reader.

A schedule is a CSV file with a header row. Column names are matched without regard to case,
spaces, dashes or underscores (`Date of Service`, `date_of_service` and `DATE-OF-SERVICE` are the
same column). Files saved by Excel read as well: a UTF-8 byte order mark, CRLF line ends, quoted
fields with embedded commas, and US dates (`12/4/2026`). Row numbers are the ones a spreadsheet
shows: the header is row 1, the first appointment row 2.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

# Canonical column names, in the order the documentation and the sample file list them.
APPOINTMENT_ID = "appointment_id"
CLAIM_ID = "claim_id"
DATE_OF_SERVICE = "date_of_service"
PAYER_ID = "payer_id"
PAYER_NAME = "payer_name"
MEMBER_ID = "member_id"
PATIENT_FIRST_NAME = "patient_first_name"
PATIENT_LAST_NAME = "patient_last_name"
PATIENT_BIRTH_DATE = "patient_birth_date"
PATIENT_GENDER = "patient_gender"
RELATIONSHIP = "relationship"
SUBSCRIBER_FIRST_NAME = "subscriber_first_name"
SUBSCRIBER_LAST_NAME = "subscriber_last_name"
SUBSCRIBER_BIRTH_DATE = "subscriber_birth_date"
SUBSCRIBER_GENDER = "subscriber_gender"
PROVIDER_NPI = "provider_npi"
PROVIDER_NAME = "provider_name"
PROVIDER_NETWORK = "provider_network"
PROCEDURES = "procedures"
ALLOWED_AMOUNTS = "allowed_amounts"

COLUMNS: tuple[str, ...] = (
    APPOINTMENT_ID,
    CLAIM_ID,
    DATE_OF_SERVICE,
    PAYER_ID,
    PAYER_NAME,
    MEMBER_ID,
    PATIENT_FIRST_NAME,
    PATIENT_LAST_NAME,
    PATIENT_BIRTH_DATE,
    PATIENT_GENDER,
    RELATIONSHIP,
    SUBSCRIBER_FIRST_NAME,
    SUBSCRIBER_LAST_NAME,
    SUBSCRIBER_BIRTH_DATE,
    SUBSCRIBER_GENDER,
    PROVIDER_NPI,
    PROVIDER_NAME,
    PROVIDER_NETWORK,
    PROCEDURES,
    ALLOWED_AMOUNTS,
)

REQUIRED_COLUMNS: tuple[str, ...] = (
    APPOINTMENT_ID,
    DATE_OF_SERVICE,
    PAYER_ID,
    MEMBER_ID,
    PATIENT_FIRST_NAME,
    PATIENT_LAST_NAME,
    PATIENT_BIRTH_DATE,
    PROVIDER_NPI,
    PROCEDURES,
)

# Other spellings seen in practice-management exports, after folding (see `fold_header`).
_ALIASES: dict[str, str] = {
    "appointment": APPOINTMENT_ID,
    "appt": APPOINTMENT_ID,
    "apptid": APPOINTMENT_ID,
    "claim": CLAIM_ID,
    "dos": DATE_OF_SERVICE,
    "servicedate": DATE_OF_SERVICE,
    "payer": PAYER_ID,
    "insurance": PAYER_NAME,
    "providername": PROVIDER_NAME,
    "practice": PROVIDER_NAME,
    "memberid": MEMBER_ID,
    "subscriberid": MEMBER_ID,
    "firstname": PATIENT_FIRST_NAME,
    "lastname": PATIENT_LAST_NAME,
    "birthdate": PATIENT_BIRTH_DATE,
    "dob": PATIENT_BIRTH_DATE,
    "patientdob": PATIENT_BIRTH_DATE,
    "gender": PATIENT_GENDER,
    "sex": PATIENT_GENDER,
    "relationshiptosubscriber": RELATIONSHIP,
    "subscriberdob": SUBSCRIBER_BIRTH_DATE,
    "npi": PROVIDER_NPI,
    "network": PROVIDER_NETWORK,
    "cpt": PROCEDURES,
    "cpts": PROCEDURES,
    "allowed": ALLOWED_AMOUNTS,
    "allowedamount": ALLOWED_AMOUNTS,
}

_FOLD = re.compile(r"[\s_\-./]+")


def fold_header(name: str) -> str:
    """Lower-case a header cell and drop spaces, dashes, dots and underscores."""
    return _FOLD.sub("", name.strip().lstrip("\ufeff").lower())


_CANONICAL: dict[str, str] = {fold_header(c): c for c in COLUMNS} | _ALIASES


class ScheduleFormatError(Exception):
    """The file cannot be read as a schedule at all (no header, required columns missing)."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Header:
    """Where each known column sits in the file, and which header cells were not recognised."""

    positions: dict[str, int]
    ignored: tuple[str, ...]


def read_header(cells: list[str]) -> Header:
    """Map header cells to canonical columns; raise when a required column is missing."""
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, cell in enumerate(cells):
        canonical = _CANONICAL.get(fold_header(cell))
        if canonical is None or canonical in positions:
            if cell.strip():
                ignored.append(cell.strip()[:64])
            continue
        positions[canonical] = index
    missing = [c for c in REQUIRED_COLUMNS if c not in positions]
    if missing:
        raise ScheduleFormatError(missing[0], "required column missing: " + ", ".join(missing))
    return Header(positions=positions, ignored=tuple(ignored))


@dataclass(frozen=True, slots=True)
class RawRow:
    """One data row: its spreadsheet row number and its cells by canonical column name."""

    number: int
    cells: dict[str, str]

    def get(self, column: str) -> str:
        return self.cells.get(column, "")


def text_stream(binary: IO[bytes]) -> io.TextIOWrapper:
    """Decode a byte stream (an S3 body, an open file) lazily as UTF-8, BOM or not.

    Undecodable bytes become U+FFFD so one stray Windows-1252 character cannot stop the file;
    the row holding it is then rejected by validation (see `rows.py`).
    """
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")


@dataclass(frozen=True, slots=True)
class UnreadableRow:
    """A record the CSV reader could not parse (a cell past the size limit, say); the rows
    after it are still read."""

    number: int


def iter_rows(lines: Iterable[str]) -> Iterator[RawRow | Header | UnreadableRow]:
    """Yield the `Header`, then each non-blank data row as a `RawRow`, reading lazily.

    `lines` is a text stream opened with `newline=""` (or any iterable of lines), so quoted
    fields may hold line breaks. Row numbers count records (blank ones too), as a spreadsheet does.
    A record the CSV reader rejects is yielded as an `UnreadableRow` and reading goes on.
    """
    reader = csv.reader(lines)
    header: Header | None = None
    number = 0
    while True:
        number += 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error:
            # The reader has consumed the bad record; the next call starts on the line after it.
            yield UnreadableRow(number)
            continue
        if header is None:
            if not any(cell.strip() for cell in record):
                continue
            header = read_header(record)
            yield header
            continue
        if not any(cell.strip() for cell in record):
            continue
        cells = {
            column: record[index].strip() if index < len(record) else ""
            for column, index in header.positions.items()
        }
        yield RawRow(number=number, cells=cells)
    if header is None:
        raise ScheduleFormatError("header", "the file has no header row")
