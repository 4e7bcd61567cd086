"""Read a 271 eligibility response (005010X279A1, and 004010X092A1 marked as 4010) into the model.

The walk follows the HL tree (2000A payer, 2000B receiver, 2000C subscriber, 2000D dependent)
and, inside each, the loops the segments open: NM1 starts 2100A-D, EB starts a new 2110C/D row,
LS ... LE holds the 2120C/D entities of the EB row just before LS. Segments that qualify a row
(HSD, REF, DTP, AAA, MSG, III) attach to the latest EB. Nothing is dropped silently: anything
out of place becomes a warning with its segment position.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal

from cptverify.x12.aaa import make_aaa
from cptverify.x12.errors import StructureError, X12Error
from cptverify.x12.model import (
    NO_ITEMS,
    Address,
    Benefit,
    Contact,
    Coverage,
    DateValue,
    Delivery,
    Entity,
    Interchange,
    Patient,
    PlaceOfService,
    Procedure,
    ReadWarning,
    Reference,
    Trace,
    Transaction271,
)
from cptverify.x12.segments import (
    WHITESPACE,
    Delimiters,
    TransactionSpan,
    tokenize,
    walk_envelope,
)

ACTIVE_CODES = frozenset({"1", "2", "3", "4", "5"})
INACTIVE_CODES = frozenset({"6", "7", "8"})
# Segments a 271 may carry that we do not keep (diagnosis, military personnel information).
IGNORED_SEGMENTS = frozenset({"HI", "MPI"})
PAD = [""] * 16
# Ready-made padding lists, indexed by how many empty elements are missing.
PADS = [[""] * k for k in range(17)]
# Parsed EB03 values per repetition separator (raw text -> codes); copied before use.
_SERVICE_TYPES: dict[str | None, dict[str, list[str]]] = {}
HL_LEVELS = {"20": "A", "21": "B", "22": "C", "23": "D"}
# 2100C/D REF qualifiers that name the plan or the group.
PLAN_REF = "18"
GROUP_REFS = ("6P", "1L", "IG")


def _get(seg: list[str], i: int) -> str | None:
    """Element i, or None when absent or empty (the tokenizer already trimmed whitespace)."""
    return (seg[i] or None) if len(seg) > i else None


_DECIMALS: dict[str, Decimal] = {}
_X12_DECIMAL = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_MAX_DIGITS = 18


def _decimal(value: str | None, what: str, pos: int, warnings: list[ReadWarning]) -> Decimal | None:
    if not value:
        return None
    cached = _DECIMALS.get(value)
    if cached is not None:
        return cached
    # An X12 decimal (R): optional minus, digits, optional point, at most 18 digits. Decimal()
    # alone would also take exponents, `_`, `+`, other scripts' digits and NaN.
    digits = len(value) - (value[0] == "-") - ("." in value)
    if digits > _MAX_DIGITS or _X12_DECIMAL.fullmatch(value) is None:
        warnings.append(ReadWarning("number_invalid", f"{what} is not a number", pos))
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        warnings.append(ReadWarning("number_invalid", f"{what} is not a number", pos))
        return None
    if number.is_zero() and number.is_signed():
        number = number.copy_abs()  # "-0" and "-.00" are zero, shown as "0.00"
    if len(_DECIMALS) > 4096:
        _DECIMALS.clear()
    _DECIMALS[value] = number
    return number


# Valid dates read so far (raw text -> date): coverage and birth dates repeat across patients.
_DATES: dict[str, date] = {}


def _date(value: str, pos: int, warnings: list[ReadWarning]) -> date | None:
    cached = _DATES.get(value)
    if cached is not None:
        return cached
    parsed = _parse_date(value)
    if parsed is None:
        warnings.append(ReadWarning("date_invalid", "a date is not a valid CCYYMMDD date", pos))
        return None
    if len(_DATES) > 4096:
        _DATES.clear()
    _DATES[value] = parsed
    return parsed


def _parse_date(value: str) -> date | None:
    if len(value) == 8 and value.isdigit():
        try:
            return date.fromisoformat(value)  # CCYYMMDD is ISO 8601 basic format
        except ValueError:
            pass
    elif len(value) == 6 and value.isascii() and value.isdigit():
        # Limitation: 4010 six-digit dates (YYMMDD) are read as 20YY when YY <= 50, else 19YY.
        year = int(value[:2])
        try:
            return date(2000 + year if year <= 50 else 1900 + year, int(value[2:4]), int(value[4:]))
        except ValueError:
            pass
    return None


def _dtp(seg: list[str], pos: int, warnings: list[ReadWarning]) -> DateValue:
    if len(seg) < 4:
        seg.extend(PADS[4 - len(seg)])
    qualifier = seg[1]
    fmt = seg[2] or None
    raw = seg[3]
    value = DateValue(qualifier, fmt, raw)
    if not raw:
        return value
    if fmt == "RD8" or (fmt is None and "-" in raw):
        first, _, last = raw.partition("-")
        first, last = first.strip(WHITESPACE), last.strip(WHITESPACE)
        if not first or not last:
            warnings.append(ReadWarning("date_invalid", "a date range lacks its start or end", pos))
        value.start = _date(first, pos, warnings) if first else None
        value.end = _date(last, pos, warnings) if last else None
    else:
        value.start = _date(raw, pos, warnings)
        value.end = value.start
    return value


ENTITY_WIDTH = 11


def _entity(seg: list[str]) -> Entity:
    if len(seg) < ENTITY_WIDTH:
        seg = seg + PAD[: ENTITY_WIDTH - len(seg)]
    return Entity(
        seg[1],
        seg[2] or None,
        seg[3] or None,
        seg[4] or None,
        seg[5] or None,
        seg[6] or None,
        seg[7] or None,
        seg[8] or None,
        seg[9] or None,
        seg[10] or None,
    )


def _address_line(entity_address: Address | None, seg: list[str], street: bool) -> Address:
    address = entity_address if entity_address is not None else Address()
    if len(seg) < 4:
        seg = seg + PADS[4 - len(seg)]
    if street:
        address.line1 = seg[1] or None
        address.line2 = seg[2] or None
    else:
        address.city = seg[1] or None
        address.state = seg[2] or None
        address.postal_code = seg[3] or None
    return address


def _contact(seg: list[str]) -> Contact:
    channels = []
    for i in (3, 5, 7):
        kind = _get(seg, i)
        number = _get(seg, i + 1)
        if kind and number:
            channels.append((kind, number))
    return Contact(_get(seg, 1), _get(seg, 2), channels)


def _reference(seg: list[str]) -> Reference:
    if len(seg) < 4:
        seg = seg + PADS[4 - len(seg)]
    return Reference(seg[1], seg[2] or None, seg[3] or None)


# Rows are built with `object.__new__` and one store per field, skipping the dataclass
# `__init__` call (the largest single cost of an EB row). Every field must be stored here; a
# test checks that a read row has each field of `Benefit` and `Procedure`.
_new = object.__new__
# Parsed EB13 composites per component separator (raw text -> qualifier, code, modifiers).
_PROCEDURES: dict[str, dict[str, tuple[str, str, list[str], bool]]] = {}


def _procedure(
    value: str,
    component: str,
    cache: dict[str, tuple[str, str, list[str], bool]],
    pos: int,
    warnings: list[ReadWarning],
) -> Procedure:
    parts = cache.get(value)
    if parts is None:
        # Padding next to a component separator is not part of a code (`HC: 99213 : GP`).
        split = [part.strip(WHITESPACE) for part in value.split(component)]
        n = len(split)
        # Components past the fourth modifier (C003-07/08 are not used in a 271) are dropped.
        extra = any(split[6:])
        parts = (split[0], split[1] if n > 1 else "", [m for m in split[2:6] if m], extra)
        if len(cache) > 4096:
            cache.clear()
        cache[value] = parts
    if parts[3]:
        warnings.append(
            ReadWarning("components_extra", "EB13 components after the fourth modifier", pos)
        )
    procedure: Procedure = _new(Procedure)
    procedure.qualifier = parts[0]
    procedure.code = parts[1]
    modifiers = parts[2]
    procedure.modifiers = modifiers.copy() if modifiers else NO_ITEMS
    return procedure


EB_WIDTH = 14


def _benefit(seg: list[str], walker: _Walker, pos: int) -> Benefit:
    warnings = walker.warnings
    n = len(seg)
    if n != EB_WIDTH:
        if n < EB_WIDTH:
            seg += PADS[EB_WIDTH - n]
        else:
            if any(seg[EB_WIDTH:]):
                warnings.append(
                    ReadWarning("elements_extra", "EB elements after EB13 were ignored", pos)
                )
            seg = seg[:EB_WIDTH]
    _, code, level, stc, ins, plan, period, amount, percent, qual, qty, auth, net, proc = seg
    cache = walker.service_types
    split = cache.get(stc)
    if split is None:
        if not stc:
            split = []
        elif walker.repetition is not None and walker.repetition in stc:
            # Padding next to a repetition separator is not part of a code (`1^ 98 ^33`).
            parts = (part.strip(WHITESPACE) for part in stc.split(walker.repetition))
            split = [part for part in parts if part]
        else:
            split = [stc]
        if len(cache) > 4096:
            cache.clear()
        cache[stc] = split
    row: Benefit = _new(Benefit)
    row.code = code
    if not code:
        warnings.append(ReadWarning("element_missing", "EB01 (the benefit code) is empty", pos))
    row.coverage_level = level or None
    row.service_types = split.copy()
    row.insurance_type = ins or None
    row.plan_description = plan or None
    row.time_period = period or None
    row.amount = (
        (_DECIMALS.get(amount) or _decimal(amount, "EB07", pos, warnings)) if amount else None
    )
    row.percent = (
        (_DECIMALS.get(percent) or _decimal(percent, "EB08", pos, warnings)) if percent else None
    )
    row.quantity_qualifier = qual or None
    row.quantity = _decimal(qty, "EB10", pos, warnings) if qty else None
    row.authorization_required = auth or None
    row.in_plan_network = net or None
    row.procedure = (
        _procedure(proc, walker.component, walker.procedures, pos, warnings) if proc else None
    )
    row.places_of_service = row.delivery = row.dates = row.references = NO_ITEMS
    row.messages = row.related_entities = row.errors = NO_ITEMS
    row.segment = pos
    return row


def _append(row: Benefit, name: str, value: object) -> None:
    """Append to a list field of a row, giving the row its own list in place of `NO_ITEMS`."""
    items = getattr(row, name)
    if items is NO_ITEMS:
        setattr(row, name, [value])
    else:
        items.append(value)


def _delivery(seg: list[str], pos: int, warnings: list[ReadWarning]) -> Delivery:
    if len(seg) < 9:
        seg = seg + PADS[9 - len(seg)]
    return Delivery(
        seg[1] or None,
        _decimal(seg[2], "HSD02", pos, warnings),
        seg[3] or None,
        _decimal(seg[4], "HSD04", pos, warnings),
        seg[5] or None,
        _decimal(seg[6], "HSD06", pos, warnings),
        seg[7] or None,
        seg[8] or None,
    )


class _Walker:
    """State of the walk through one ST ... SE 271 transaction."""

    __slots__ = (
        "d",
        "warnings",
        "txn",
        "level",
        "patient",
        "entity",
        "benefit",
        "in_ls",
        "hl_patients",
        "hl_levels",
        "hl_parents",
        "has_nm1",
        "hl_pos",
        "ls_pos",
        "handlers",
        "repetition",
        "component",
        "service_types",
        "procedures",
    )

    def __init__(self, d: Delimiters, warnings: list[ReadWarning], txn: Transaction271):
        self.d = d
        self.warnings = warnings
        self.txn = txn
        self.level = ""
        self.patient: Patient | None = None
        self.entity: Entity | None = None
        self.benefit: Benefit | None = None
        self.in_ls = False
        self.hl_patients: dict[str, Patient] = {}
        self.hl_levels: dict[str, str] = {}
        self.hl_parents: dict[str, str | None] = {}
        self.has_nm1 = True
        self.hl_pos = 0
        self.ls_pos = 0
        # Parse caches for this file's separators, looked up once per transaction, not per row.
        self.repetition = d.repetition
        self.component = d.component
        self.service_types = _SERVICE_TYPES.setdefault(d.repetition, {})
        self.procedures = _PROCEDURES.setdefault(d.component, {})
        self.handlers: dict[str, Callable[[list[str], int], None]] = {
            "EB": self.eb,
            "HL": self.hl,
            "NM1": self.nm1,
            "AAA": self.aaa,
            "LS": self.ls,
            "LE": self.le,
            "N3": self.n3_n4,
            "N4": self.n3_n4,
            "PER": self.per,
            "PRV": self.prv,
            "REF": self.ref,
            "DTP": self.dtp,
            "MSG": self.msg,
            "III": self.iii,
            "HSD": self.hsd,
            "TRN": self.trn,
            "DMG": self.dmg,
            "INS": self.ins,
            "BHT": self.bht,
        }

    def warn(self, code: str, message: str, pos: int) -> None:
        self.warnings.append(ReadWarning(code, message, pos))

    def close_hl(self) -> None:
        if not self.has_nm1 and self.level:
            self.warn(
                "loop_missing",
                f"loop 2100{self.level} (NM1) is missing from loop 2000{self.level}",
                self.hl_pos,
            )
        if self.in_ls:
            self.warn("le_missing", "LS without a closing LE", self.ls_pos)
            self.in_ls = False

    def hl(self, seg: list[str], pos: int) -> None:
        self.close_hl()
        if len(seg) < 4:
            seg = seg + PADS[4 - len(seg)]
        hl_id = seg[1]
        parent = seg[2] or None
        level = HL_LEVELS.get(seg[3])
        if level is None:
            self.warn("hl_level_unknown", "HL03 is not a 271 hierarchical level code", pos)
            level = "C" if self.level in ("B", "C") else (self.level or "A")
        if parent is not None and parent not in self.hl_levels:
            self.warn("hl_parent_unknown", "HL02 names a parent that was not seen", pos)
        elif parent is None and level != "A":
            self.warn("hl_parent_missing", "HL02 is empty below the information source", pos)
        if hl_id in self.hl_levels:
            self.warn("hl_id_repeated", "HL01 repeats an earlier HL id; both loops are kept", pos)
        self.hl_levels[hl_id] = level
        self.hl_parents[hl_id] = parent
        self.level = level
        self.benefit = None
        self.entity = None
        self.has_nm1 = False
        self.hl_pos = pos
        if level in ("C", "D"):
            patient = Patient("subscriber" if level == "C" else "dependent", hl_id=hl_id)
            if level == "D" and parent is not None:
                subscriber = self.hl_patients.get(parent)
                if subscriber is not None:
                    patient.subscriber_member_id = subscriber.member_id
            self.hl_patients[hl_id] = patient
            self.txn.patients.append(patient)
            self.patient = patient
        else:
            self.patient = None

    def nm1(self, seg: list[str], pos: int) -> None:
        if self.in_ls:
            entity = _entity(seg)
            if self.benefit is not None:
                entity.benefit_code = self.benefit.code
                _append(self.benefit, "related_entities", entity)
            elif self.patient is not None:
                # LS/LE with no EB before it (already warned): the entity is the patient's.
                self.patient.coverage.related_entities.append(entity)
            else:
                self.warn("nm1_misplaced", "NM1 in LS/LE outside a patient loop was ignored", pos)
            self.entity = entity
            return
        if self.benefit is not None:
            self.warn("nm1_misplaced", "NM1 after an EB row outside LS/LE was ignored", pos)
            return
        if self.has_nm1:
            self.warn("nm1_repeated", "a second NM1 in the same loop was ignored", pos)
            return
        self.has_nm1 = True
        level = self.level
        if not level:
            self.warn("nm1_misplaced", "NM1 before any HL was ignored", pos)
            return
        entity = _entity(seg)
        self.entity = entity
        if level == "A":
            self.txn.payer = entity
        elif level == "B":
            self.txn.receiver = entity
        elif self.patient is not None:
            p = self.patient
            p.last_name = entity.last_name
            p.first_name = entity.first_name
            p.middle_name = entity.middle_name
            p.suffix = entity.suffix
            p.member_id = entity.id

    def aaa(self, seg: list[str], pos: int) -> None:
        if _get(seg, 3) is None:
            # Kept as a rejection (the payer flagged the request), but without a reason code.
            self.warn("element_missing", "AAA03 (the reject reason) is empty", pos)
        level = self.level
        loop = ("2100" if self.has_nm1 else "2000") + level if level else "header"
        if self.benefit is not None and not self.in_ls:
            loop = "2110" + self.level
            _append(self.benefit, "errors", make_aaa(seg, loop, pos))
        elif self.in_ls:
            loop = "2120" + self.level if level else "header"
            # An LS/LE with no EB before it has no row to hold the AAA: a rejection is never
            # dropped, so it goes to the patient, or to the transaction above any patient.
            if self.benefit is not None:
                _append(self.benefit, "errors", make_aaa(seg, loop, pos))
            elif self.patient is not None:
                self.patient.errors.append(make_aaa(seg, loop, pos))
            else:
                self.txn.errors.append(make_aaa(seg, loop, pos))
        elif self.patient is not None:
            self.patient.errors.append(make_aaa(seg, loop, pos))
        else:
            self.txn.errors.append(make_aaa(seg, loop, pos))

    def segment(self, seg: list[str], pos: int) -> None:
        handler = self.handlers.get(seg[0])
        if handler is None:
            if seg[0] not in IGNORED_SEGMENTS:
                self.warn("segment_unexpected", "a segment a 271 does not carry was ignored", pos)
            return
        handler(seg, pos)

    def eb(self, seg: list[str], pos: int) -> None:
        if self.patient is None:
            self.warn("eb_misplaced", "EB outside a subscriber or dependent loop", pos)
            return
        if self.in_ls:
            self.warn("le_missing", "EB inside LS/LE; the 2120 loop was closed", pos)
            self.in_ls = False
        benefit = _benefit(seg, self, pos)
        self.patient.benefits.append(benefit)
        self.benefit = benefit
        self.entity = None

    def ls(self, seg: list[str], pos: int) -> None:
        if self.in_ls:
            self.warn("le_missing", "LS inside an open LS/LE; the first 2120 loop was closed", pos)
        if self.benefit is None:
            self.warn("ls_misplaced", "LS without an EB row before it", pos)
        self.in_ls = True
        self.ls_pos = pos
        self.entity = None

    def le(self, seg: list[str], pos: int) -> None:
        if not self.in_ls:
            self.warn("ls_missing", "LE without a matching LS", pos)
        self.in_ls = False
        self.entity = None

    def n3_n4(self, seg: list[str], pos: int) -> None:
        street = seg[0] == "N3"
        entity = self.entity
        if entity is not None:
            entity.address = _address_line(entity.address, seg, street)
        elif self.patient is not None and self.benefit is None:
            self.patient.address = _address_line(self.patient.address, seg, street)
        else:
            self.warn("segment_misplaced", f"{seg[0]} without an entity was ignored", pos)

    def per(self, seg: list[str], pos: int) -> None:
        if self.entity is not None:
            self.entity.contacts.append(_contact(seg))
        else:
            self.warn("segment_misplaced", "PER without an entity was ignored", pos)

    def prv(self, seg: list[str], pos: int) -> None:
        entity = self.entity
        if entity is not None:
            entity.provider_code = _get(seg, 1)
            entity.taxonomy_qualifier = _get(seg, 2)
            entity.taxonomy = _get(seg, 3)

    def ref(self, seg: list[str], pos: int) -> None:
        ref = _reference(seg)
        if self.in_ls and self.entity is not None:
            self.entity.references.append(ref)
        elif self.benefit is not None:
            _append(self.benefit, "references", ref)
        elif self.patient is not None:
            self.patient.references.append(ref)
            self._coverage_ref(self.patient.coverage, ref)
        elif self.entity is not None:
            self.entity.references.append(ref)

    def dtp(self, seg: list[str], pos: int) -> None:
        value = _dtp(seg, pos, self.warnings)
        if self.benefit is not None:
            _append(self.benefit, "dates", value)
        elif self.patient is not None:
            # Limitation: a repeated patient-level DTP qualifier keeps only the last date.
            self.patient.coverage.dates[value.qualifier] = value

    def msg(self, seg: list[str], pos: int) -> None:
        text = _get(seg, 1)
        if self.benefit is not None and text is not None:
            _append(self.benefit, "messages", text)

    def iii(self, seg: list[str], pos: int) -> None:
        # Limitation: III04 (free-form text some 4010 payers send) is not kept.
        if self.benefit is not None:
            if len(seg) < 4:
                seg = seg + PADS[4 - len(seg)]
            _append(
                self.benefit,
                "places_of_service",
                PlaceOfService(seg[1] or None, seg[2] or None, seg[3] or None),
            )

    def hsd(self, seg: list[str], pos: int) -> None:
        if self.benefit is not None:
            _append(self.benefit, "delivery", _delivery(seg, pos, self.warnings))

    def trn(self, seg: list[str], pos: int) -> None:
        if self.patient is not None:
            if len(seg) < 5:
                seg.extend(PADS[5 - len(seg)])
            self.patient.traces.append(Trace(seg[1], seg[2], seg[3] or None, seg[4] or None))

    def dmg(self, seg: list[str], pos: int) -> None:
        patient = self.patient
        if patient is not None:
            if len(seg) < 4:
                seg = seg + PADS[4 - len(seg)]
            if seg[2]:
                patient.birth_date = _date(seg[2], pos, self.warnings)
            patient.gender = seg[3] or None

    def ins(self, seg: list[str], pos: int) -> None:
        patient = self.patient
        if patient is not None:
            patient.relationship = _get(seg, 2)
            patient.maintenance_reason = _get(seg, 4)

    def bht(self, seg: list[str], pos: int) -> None:
        self.txn.purpose = _get(seg, 2)
        self.txn.reference = _get(seg, 3)

    @staticmethod
    def _coverage_ref(coverage: Coverage, ref: Reference) -> None:
        if ref.qualifier == PLAN_REF:
            coverage.plan_number = ref.value
            if coverage.plan is None and ref.description:
                coverage.plan = ref.description
        elif ref.qualifier in GROUP_REFS and coverage.group_number is None:
            coverage.group_number = ref.value
            coverage.group_name = ref.description


# DTP qualifiers of a status row's period (eligibility, benefit) and of the date of service
# (4010 and 5010 service date, then the 5010 plan date the payer echoes).
# Limitation: rows dated only by eligibility begin/end (356/357) or plan begin/end (346/347), or
# by a D8 date, are always counted for the status, whatever the date of service.
_ROW_PERIODS = frozenset({"307", "292"})
_SERVICE_DATES = ("472", "291")


def _service_date(coverage: Coverage) -> date | None:
    for qualifier in _SERVICE_DATES:
        value = coverage.dates.get(qualifier)
        if value is not None and value.start is not None:
            return value.start
    return None


def _dated_away(benefit: Benefit, day: date) -> bool:
    """True when the row carries an eligibility or benefit period (RD8) that leaves out `day`."""
    for value in benefit.dates:
        if value.qualifier in _ROW_PERIODS and value.format == "RD8":
            start, end = value.start, value.end
            # A reversed range (a payer error) says nothing about the day.
            if start is not None and end is not None and start <= end and not start <= day <= end:
                return True
    return False


def _finish_patient(patient: Patient, upstream_rejected: bool) -> None:
    """Coverage context from the EB rows, then the coverage status."""
    coverage = patient.coverage
    active = inactive = rejected_rows = 0
    # Status rows whose own period leaves out the date of service (history, not a conflict).
    day = _service_date(coverage) if coverage.dates else None
    away_active = away_inactive = 0
    for benefit in patient.benefits:
        code = benefit.code
        if code == "R":
            coverage.other_payers.extend(benefit.related_entities)
        elif benefit.related_entities:
            coverage.related_entities.extend(benefit.related_entities)
        if code in ACTIVE_CODES:
            if benefit.errors:
                rejected_rows += 1
                continue
            if coverage.plan is None and benefit.plan_description:
                coverage.plan = benefit.plan_description
            if coverage.insurance_type is None and benefit.insurance_type:
                coverage.insurance_type = benefit.insurance_type
            if day is not None and benefit.dates is not NO_ITEMS and _dated_away(benefit, day):
                away_active += 1
                continue
            active += 1
        elif code in INACTIVE_CODES:
            if benefit.errors:
                rejected_rows += 1
                continue
            if day is not None and benefit.dates is not NO_ITEMS and _dated_away(benefit, day):
                away_inactive += 1
                continue
            inactive += 1
    notes = patient.status_notes
    if away_active or away_inactive:
        if active or inactive:
            notes.append(
                "status rows dated outside the date of service were not counted for the status"
            )
        else:
            active, inactive = away_active, away_inactive
    if patient.errors or upstream_rejected:
        patient.coverage_status = "rejected"
        if not patient.errors:
            notes.append(
                "the request was rejected above this patient (payer, receiver or subscriber)"
            )
        if patient.benefits:
            notes.append("benefit rows follow a rejection; they do not confirm coverage")
    elif active and inactive:
        patient.coverage_status = "unknown"
        notes.append("both active (EB01 1-5) and inactive (EB01 6-8) rows were sent")
    elif active:
        patient.coverage_status = "active"
    elif inactive:
        patient.coverage_status = "inactive"
    elif rejected_rows:
        patient.coverage_status = "rejected"
        notes.append("every coverage row carries a rejection")
    else:
        patient.coverage_status = "unknown"
        if patient.benefits:
            notes.append("no coverage row (EB01 1-8); other rows alone do not confirm coverage")


def _read_transaction(
    segs: list[list[str]], span: TransactionSpan, d: Delimiters, warnings: list[ReadWarning]
) -> Transaction271:
    st = segs[span.start]
    implementation = span.implementation or span.group_version
    txn = Transaction271(
        control_number=_get(st, 2) or "",
        implementation=implementation,
        version=_version(implementation),
        first_segment=span.start + 1,
    )
    walker = _Walker(d, warnings, txn)
    pos = span.start + 1
    try:
        step = walker.segment
        handlers = walker.handlers
        for pos, seg in enumerate(segs[span.start + 1 : span.end], span.start + 2):
            if seg[0] == "EB" and walker.patient is not None and not walker.in_ls:
                # The common case inline (most segments of a 271 are EB rows).
                benefit = _benefit(seg, walker, pos)
                walker.patient.benefits.append(benefit)
                walker.benefit = benefit
                walker.entity = None
            else:
                handler = handlers.get(seg[0])
                if handler is not None:
                    handler(seg, pos)
                else:
                    step(seg, pos)
        walker.close_hl()
    except X12Error:
        raise
    except (IndexError, KeyError, ValueError, TypeError, AttributeError):
        # Limitation: an unforeseen shape stops this transaction with a typed error, not a result.
        # `from None`: the original exception may quote file text (a KeyError names its key),
        # and a chained cause would reach any traceback that is logged.
        raise StructureError("segment could not be walked", segment=pos) from None
    upstream = bool(txn.errors)
    by_hl = walker.hl_patients
    parents = walker.hl_parents
    for patient in txn.patients:
        parent_rejected = False
        if patient.role == "dependent" and patient.hl_id is not None:
            subscriber = by_hl.get(parents.get(patient.hl_id) or "")
            parent_rejected = subscriber is not None and bool(subscriber.errors)
        _finish_patient(patient, upstream or parent_rejected)
    return txn


def _version(implementation: str | None) -> Literal["5010", "4010", "unknown"]:
    if not implementation:
        return "unknown"
    if implementation.startswith("00501"):
        return "5010"
    if implementation.startswith("00401"):
        return "4010"
    return "unknown"


def read_271(data: bytes | str) -> Interchange:
    """Read every 271 transaction of an interchange.

    Raises an `X12Error` subclass when the input is not X12, ends inside the ISA, or holds no
    271 transaction; everything else out of place is reported in `Interchange.warnings`.
    """
    # The cycle collector is paused while the model is built (and always resumed, below). The
    # model holds no reference cycles, so there is nothing for it to free; left running, it
    # would scan the token lists and the rows built so far again and again and promote them to
    # older generations, where they later cost full collections. Paused, each row is scanned
    # once, by the first collection after the read. Measured in `bench parse` (which times that
    # collection too): about 4.5x faster than pyx12 paused, 2.5x to 3.7x left running.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _read(data)
    finally:
        if collecting:
            gc.enable()


def _read(data: bytes | str) -> Interchange:
    tokens = tokenize(data)
    envelope = walk_envelope(tokens)
    segs = tokens.segments
    isa = segs[0]
    warnings = tokens.warnings + envelope.warnings
    ic = Interchange(
        sender_id=_get(isa, 6),
        receiver_id=_get(isa, 8),
        control_number=_get(isa, 13),
        version=tokens.version,
        warnings=warnings,
    )
    unreadable: StructureError | None = None
    for span in envelope.transactions:
        if span.transaction_set != "271":
            warnings.append(
                ReadWarning(
                    "transaction_skipped",
                    "a transaction that is not a 271 was skipped",
                    span.start + 1,
                )
            )
            continue
        if ic.functional_id is None:
            ic.functional_id = span.functional_id
        try:
            ic.transactions.append(_read_transaction(segs, span, tokens.delimiters, warnings))
        except StructureError as exc:
            # One transaction that cannot be walked does not sink the others (a file may hold
            # 150 patients); it is reported where it stopped, and raised only if none was read.
            unreadable = unreadable or exc
            warnings.append(
                ReadWarning(
                    "transaction_unreadable",
                    "a 271 transaction could not be walked and was left out",
                    exc.segment,
                )
            )
    if not ic.transactions:
        if unreadable is not None:
            raise unreadable
        first = envelope.transactions[0].start + 1 if envelope.transactions else None
        raise StructureError("the interchange holds no 271 transaction", segment=first)
    return ic
