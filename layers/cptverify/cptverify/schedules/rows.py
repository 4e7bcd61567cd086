"""One schedule row -> a validated inquiry body, or the problems that stop it.

Rows are checked with the very model the API validates its JSON with (`cptverify.inquiry.Inquiry`),
so a row and an API call fail for the same reasons. A problem names the row number, the column and
a reason; it never repeats a cell's value, so the error report carries no patient data.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from cptverify.inquiry import Inquiry
from cptverify.schedules import columns as col
from cptverify.schedules.columns import RawRow

# X12 INS02 codes for a dependent's relationship to the subscriber; `self` means no dependent.
_RELATIONSHIPS: dict[str, str | None] = {
    "": None,
    "self": None,
    "18": None,
    "subscriber": None,
    "spouse": "01",
    "01": "01",
    "child": "19",
    "19": "19",
    "other": "34",
    "34": "34",
    "dependent": "34",
}
_GENDERS = {"": None, "m": "M", "male": "M", "f": "F", "female": "F", "u": None, "unknown": None}
_NETWORKS = {
    "": "unknown",
    "unknown": "unknown",
    "in": "in",
    "in-network": "in",
    "innetwork": "in",
    "inn": "in",
    "par": "in",
    "out": "out",
    "out-of-network": "out",
    "outofnetwork": "out",
    "oon": "out",
    "nonpar": "out",
}
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_ISO_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]\d{1,2}:\d{2}(:\d{2})?$")
_DATE_REASON = (
    "not a calendar date; write it as YYYY-MM-DD, YYYYMMDD, MM/DD/YYYY or YYYY-MM-DD HH:MM"
)
UNKNOWN_PAYER = "not a payer this service is set up for (see the payer registry)"
_PROCEDURE = re.compile(r"^[A-Za-z0-9]{4,7}$")
_PATIENT_COLUMNS = (
    col.MEMBER_ID,
    col.PATIENT_FIRST_NAME,
    col.PATIENT_LAST_NAME,
    col.PATIENT_BIRTH_DATE,
    col.SUBSCRIBER_FIRST_NAME,
    col.SUBSCRIBER_LAST_NAME,
    col.SUBSCRIBER_BIRTH_DATE,
)


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why a row (or one of its cells) was not verified. Ids only, never a cell's value."""

    row: int
    appointment_id: str
    claim_id: str
    column: str
    reason: str


@dataclass(frozen=True, slots=True)
class ProcedureLine:
    """One planned procedure of a row, with its allowed amount when the row gave one."""

    code: str
    modifiers: tuple[str, ...]
    allowed_amount: str | None


@dataclass(slots=True)
class ScheduleRow:
    """A valid row: its ids, its procedures and the inquiry body its patient and visit make."""

    number: int
    appointment_id: str
    claim_id: str
    procedures: list[ProcedureLine]
    body: dict[str, Any]
    identity: tuple[str, ...] = field(default=())


class RowInvalid(Exception):
    """A row failed validation; `problems` says where and why."""

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in row {problems[0].row}")
        self.problems = problems


def normalise_date(text: str) -> str:
    """`2026-12-04`, `20261204`, `12/4/2026` (Excel) and `2026-12-04 00:00` -> ISO; else as is."""
    value = text.strip()
    if m := _US_DATE.match(value):
        month, day, year = (int(g) for g in m.groups())
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            return value
    if m := _COMPACT_DATE.match(value):
        return f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    if m := _ISO_DATETIME.match(value):
        return m.group(1)
    return value


def service_date(text: str, today: date | None = None) -> str:
    """A date of service: any form `normalise_date` reads, or `today` / `tomorrow` (UTC)."""
    word = text.strip().lower()
    if word in ("today", "tomorrow"):
        day = today or datetime.now(UTC).date()
        return (day + timedelta(days=1 if word == "tomorrow" else 0)).isoformat()
    return normalise_date(text)


def parse_procedures(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """`99213;97110:GP:59` -> [("99213", ()), ("97110", ("GP", "59"))]; raise ValueError."""
    procedures: list[tuple[str, tuple[str, ...]]] = []
    for position, item in enumerate(text.split(";"), start=1):
        parts = [p.strip().upper() for p in item.strip().split(":")]
        if not parts[0]:
            if item.strip() or position == 1:
                raise ValueError(f"procedure {position} has no code")
            continue
        if not _PROCEDURE.match(parts[0]):
            raise ValueError(f"procedure {position} is not a procedure code")
        if any(not m for m in parts[1:]):
            raise ValueError(f"procedure {position} has an empty modifier")
        procedures.append((parts[0], tuple(parts[1:])))
    if not procedures:
        raise ValueError("no procedure given")
    return procedures


# The largest allowed amount the inquiry model takes (exclusive), as the API.
_MAX_AMOUNT = Decimal("10000000000")


def parse_amounts(text: str, count: int) -> list[str | None]:
    """`120.00;95.00` aligned by position with the procedures; blanks are allowed."""
    if not text.strip():
        return [None] * count
    cells = [c.strip().replace("$", "").replace(",", "") for c in text.split(";")]
    if len(cells) != count:
        amounts_word = "amount" if len(cells) == 1 else "amounts"
        procedures_word = "procedure" if count == 1 else "procedures"
        raise ValueError(f"{len(cells)} {amounts_word} for {count} {procedures_word}")
    amounts: list[str | None] = []
    for position, cell in enumerate(cells, start=1):
        if not cell:
            amounts.append(None)
            continue
        try:
            amount = Decimal(cell)
        except InvalidOperation:
            raise ValueError(f"amount {position} is not a number") from None
        if not amount.is_finite() or amount < 0:
            raise ValueError(f"amount {position} is not a non-negative amount")
        exponent = amount.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -2:
            # The API refuses such an amount too; rounding it here would change what was meant.
            raise ValueError(f"amount {position} must have at most two decimal places")
        if amount >= _MAX_AMOUNT:
            raise ValueError(f"amount {position} must be below 10,000,000,000.00")
        amounts.append(f"{amount:.2f}")
    return amounts


def _code(table: dict[str, Any], text: str) -> Any:
    key = text.strip().lower()
    if key not in table:
        raise KeyError(key)
    return table[key]


def build_body(
    raw: RawRow, today: date | None = None
) -> tuple[dict[str, Any], list[ProcedureLine]]:
    """The inquiry JSON (issue-3 shape) for one row; raise RowInvalid on schedule-level errors."""
    body, lines, problems = _checked_body(raw, today)
    if problems:
        raise RowInvalid(problems)
    return body, lines


def _checked_body(
    raw: RawRow, today: date | None, payers: Collection[str] | None = None
) -> tuple[dict[str, Any], list[ProcedureLine], list[RowProblem]]:
    """The inquiry JSON and the schedule-level problems; a bad cell leaves a neutral stand-in,
    so the model can still check the other columns of the same row.

    With `payers` (the registry's ids), a payer id outside it is a problem of the row."""
    problems: list[RowProblem] = []
    ids = _ids(raw)

    def problem(column: str, reason: str) -> None:
        problems.append(RowProblem(raw.number, ids[0], ids[1], column, reason))

    procedures: list[tuple[str, tuple[str, ...]]] = []
    try:
        procedures = parse_procedures(raw.get(col.PROCEDURES))
    except ValueError as exc:
        problem(col.PROCEDURES, str(exc))
    amounts: list[str | None] = [None] * len(procedures)
    # With no readable procedures the amounts are still checked, one by one, but not counted.
    count = len(procedures) if procedures else len(raw.get(col.ALLOWED_AMOUNTS).split(";"))
    try:
        checked = parse_amounts(raw.get(col.ALLOWED_AMOUNTS), count)
        amounts = checked if procedures else amounts
    except ValueError as exc:
        problem(col.ALLOWED_AMOUNTS, str(exc))
    relationship: str | None = None
    try:
        relationship = _code(_RELATIONSHIPS, raw.get(col.RELATIONSHIP))
    except KeyError:
        problem(col.RELATIONSHIP, "not one of self, spouse, child, other (or 18, 01, 19, 34)")
    network = "unknown"
    try:
        network = _code(_NETWORKS, raw.get(col.PROVIDER_NETWORK))
    except KeyError:
        problem(col.PROVIDER_NETWORK, "not one of in, out, unknown")
    genders: dict[str, str | None] = {}
    for column in (col.PATIENT_GENDER, col.SUBSCRIBER_GENDER):
        try:
            genders[column] = _code(_GENDERS, raw.get(column))
        except KeyError:
            problem(column, "not one of M, F, U")
    for column in col.COLUMNS:
        if "\ufffd" in raw.get(column):
            problem(column, "not UTF-8 text")
    for column in (col.APPOINTMENT_ID, col.PAYER_ID, col.MEMBER_ID, col.PROVIDER_NPI):
        if not raw.get(column):
            problem(column, "required")
    if relationship is not None:
        for column in (
            col.SUBSCRIBER_FIRST_NAME,
            col.SUBSCRIBER_LAST_NAME,
            col.SUBSCRIBER_BIRTH_DATE,
        ):
            if not raw.get(column):
                problem(column, "required when the patient is a dependent")

    patient = {
        "first_name": raw.get(col.PATIENT_FIRST_NAME),
        "last_name": raw.get(col.PATIENT_LAST_NAME),
        "birth_date": normalise_date(raw.get(col.PATIENT_BIRTH_DATE)),
        "gender": genders.get(col.PATIENT_GENDER),
    }
    member_id = raw.get(col.MEMBER_ID)
    if relationship is None:
        subscriber = {"member_id": member_id, **patient}
        dependent = None
    else:
        subscriber = {
            "member_id": member_id,
            "first_name": raw.get(col.SUBSCRIBER_FIRST_NAME),
            "last_name": raw.get(col.SUBSCRIBER_LAST_NAME),
            "birth_date": normalise_date(raw.get(col.SUBSCRIBER_BIRTH_DATE)),
            "gender": genders.get(col.SUBSCRIBER_GENDER),
        }
        dependent = {**patient, "relationship_code": relationship}
    npi = raw.get(col.PROVIDER_NPI)
    # Limitation: a schedule names the provider as an organization only; without a name column
    # the 270 carries a stand-in organization name and the payer identifies the provider by NPI.
    provider = {
        "npi": npi,
        "organization_name": raw.get(col.PROVIDER_NAME) or f"PROVIDER {npi[:10]}",
        "network": network,
    }
    payer_id = raw.get(col.PAYER_ID).upper()
    if payers is not None and payer_id and payer_id not in payers:
        problem(col.PAYER_ID, UNKNOWN_PAYER)
    lines = [
        ProcedureLine(code, mods, amount)
        for (code, mods), amount in zip(procedures, amounts, strict=True)
    ]
    body = {
        "claim_id": ids[1],
        "date_of_service": service_date(raw.get(col.DATE_OF_SERVICE), today),
        "payer": {"id": payer_id, "name": raw.get(col.PAYER_NAME) or payer_id},
        "provider": provider,
        "subscriber": subscriber,
        "dependent": dependent,
        "procedures": [procedure_json(line) for line in lines],
    }
    if not procedures:
        # Stand-in so the model checks the row's other columns; the row is rejected anyway.
        body["procedures"] = [{"code": "99213", "modifiers": []}]
    return body, lines, problems


def procedure_json(line: ProcedureLine) -> dict[str, Any]:
    """The inquiry model's procedure object for one line."""
    item: dict[str, Any] = {"code": line.code, "modifiers": list(line.modifiers)}
    if line.allowed_amount is not None:
        item["allowed_amount"] = line.allowed_amount
    return item


def _ids(raw: RawRow) -> tuple[str, str]:
    appointment_id = raw.get(col.APPOINTMENT_ID)[:64]
    return appointment_id, (raw.get(col.CLAIM_ID) or appointment_id)[:64]


def _column_for(loc: tuple[int | str, ...], dependent: bool) -> str:
    """Map a pydantic error location in the inquiry body back to the schedule column."""
    head = str(loc[0]) if loc else ""
    leaf = str(loc[-1]) if loc else ""
    if head in {"claim_id", "date_of_service"}:
        return col.CLAIM_ID if head == "claim_id" else col.DATE_OF_SERVICE
    if head == "payer":
        return col.PAYER_NAME if leaf == "name" else col.PAYER_ID
    if head == "provider":
        return {"network": col.PROVIDER_NETWORK, "npi": col.PROVIDER_NPI}.get(
            leaf, col.PROVIDER_NAME
        )
    if head == "procedures":
        return col.ALLOWED_AMOUNTS if leaf == "allowed_amount" else col.PROCEDURES
    person = {
        "first_name": "first_name",
        "last_name": "last_name",
        "birth_date": "birth_date",
        "gender": "gender",
    }
    if head == "subscriber":
        if leaf == "member_id":
            return col.MEMBER_ID
        prefix = "subscriber_" if dependent else "patient_"
        return prefix + person.get(leaf, "first_name")
    if head == "dependent":
        if leaf == "relationship_code":
            return col.RELATIONSHIP
        return "patient_" + person.get(leaf, "first_name")
    return head or "row"


def _reason(error: Any, loc: tuple[int | str, ...], raw: RawRow) -> str:
    """The validator's message, unless it would repeat one of the row's cells."""
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") in {"date_format", "date_invalid"}:
        message = _DATE_REASON
    cells = (raw.get(c) for c in _PATIENT_COLUMNS)
    if any(re.search(rf"\b{re.escape(v)}\b", message, re.IGNORECASE) for v in cells if v):
        message = str(error.get("type", "invalid"))
    if loc and loc[0] == "procedures" and len(loc) > 1 and isinstance(loc[1], int):
        message = f"procedure {loc[1] + 1}: {message}"
    return message[:200]


def validate_row(
    raw: RawRow, today: date | None = None, *, payers: Collection[str] | None = None
) -> ScheduleRow:
    """A validated `ScheduleRow`, or RowInvalid naming each bad column (never its value).

    `payers`: the payer ids this service is set up for (None: not checked).
    """
    body, lines, problems = _checked_body(raw, today, payers)
    # Columns already found bad above hold stand-ins; the model's view of them adds nothing.
    reported = {p.column for p in problems}
    try:
        inquiry = Inquiry.model_validate(body, context={"today": today} if today else None)
    except ValidationError as exc:
        ids = _ids(raw)
        seen: set[tuple[str, str]] = set()
        for error in exc.errors(include_input=False, include_url=False):
            loc = tuple(error.get("loc", ()))
            column = _column_for(loc, body["dependent"] is not None)
            if column == col.CLAIM_ID and not raw.get(col.CLAIM_ID):
                column = col.APPOINTMENT_ID  # the claim id is the appointment id here
            reason = _reason(error, loc, raw)
            if column == col.DATE_OF_SERVICE and reason == _DATE_REASON:
                reason += ", or today / tomorrow"
            if column not in reported and (column, reason) not in seen:
                seen.add((column, reason))
                problems.append(RowProblem(raw.number, ids[0], ids[1], column, reason))
        if not problems:
            problems.append(RowProblem(raw.number, ids[0], ids[1], "row", "invalid"))
    if problems:
        raise RowInvalid(problems) from None
    normalised = inquiry.model_dump(mode="json", exclude_none=True)
    appointment_id, claim_id = _ids(raw)
    return ScheduleRow(
        number=raw.number,
        appointment_id=appointment_id,
        claim_id=claim_id,
        procedures=lines,
        body=normalised,
        identity=identity_of(body),
    )


def identity_of(body: dict[str, Any]) -> tuple[str, ...]:
    """The fields that say "same patient, same payer, same day, same provider", folded.

    Used to group rows into one inquiry and (through an HMAC) as the freshness key.
    """
    subscriber = body["subscriber"]
    dependent = body.get("dependent") or {}
    patient = dependent or subscriber

    def fold(value: Any) -> str:
        return " ".join(str(value or "").upper().split())

    return (
        fold(body["payer"]["id"]),
        fold(subscriber["member_id"]),
        fold(patient["last_name"]),
        fold(patient["first_name"]),
        fold(patient["birth_date"]),
        fold(dependent.get("relationship_code")),
        fold(body["date_of_service"]),
        fold(body["provider"]["npi"]),
    )
