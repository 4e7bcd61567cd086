"""Read 270 eligibility inquiries back into plain data: one `Request270` per patient.

Used to check what our builder wrote (the round trip) and by the payer simulator to answer a
270. It reads 005010X279A1 and, for older partners and test material, 004010X092 (where the
service date is DTP*472 and the segments are the same for what we read). Delimiters come from
the ISA via the shared tokenizer; the HL tree (20 > 21 > 22 > 23) decides which party a segment
belongs to. Dates are `date` values; a date that cannot be read is kept as None with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from cptverify.x12.errors import StructureError
from cptverify.x12.model import Procedure, ReadWarning
from cptverify.x12.segments import Tokens, tokenize, walk_envelope

# DTP qualifiers that give the date the inquiry is about: 291 (5010), 472 and 307 (4010).
SERVICE_DATE_QUALIFIERS = ("291", "472", "307")


@dataclass(slots=True)
class Party270:
    """An NM1 party of the 270 (payer, provider, subscriber or dependent)."""

    entity_id: str
    entity_type: str | None = None
    last_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    suffix: str | None = None
    id_qualifier: str | None = None
    identifier: str | None = None
    birth_date: date | None = None
    gender: str | None = None
    relationship_code: str | None = None
    references: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class Eq270:
    """One 2110 EQ: service types asked (EQ01), a procedure (EQ02), a coverage level (EQ03)."""

    service_types: list[str] = field(default_factory=list)
    procedure: Procedure | None = None
    coverage_level: str | None = None
    date_qualifier: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    segment: int | None = None


@dataclass(slots=True)
class Request270:
    """What one patient's 270 inquiry asks: who, of whom, about which day and services."""

    control_number: str
    implementation: str | None
    reference: str | None
    payer: Party270 | None
    provider: Party270 | None
    subscriber: Party270 | None
    dependent: Party270 | None = None
    trace: str | None = None
    trace_originator: str | None = None
    date_qualifier: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    inquiries: list[Eq270] = field(default_factory=list)
    warnings: list[ReadWarning] = field(default_factory=list)

    @property
    def patient(self) -> Party270 | None:
        return self.dependent if self.dependent is not None else self.subscriber

    @property
    def is_dependent(self) -> bool:
        return self.dependent is not None

    @property
    def date_of_service(self) -> date | None:
        return self.date_from

    @property
    def procedures(self) -> list[Procedure]:
        return [eq.procedure for eq in self.inquiries if eq.procedure is not None]

    @property
    def service_types(self) -> list[str]:
        """Every service type asked in EQ01, in order, without repeats."""
        seen: list[str] = []
        for eq in self.inquiries:
            for code in eq.service_types:
                if code not in seen:
                    seen.append(code)
        return seen


def _el(segment: list[str], index: int) -> str:
    return segment[index].strip() if len(segment) > index else ""


def _opt(segment: list[str], index: int) -> str | None:
    return _el(segment, index) or None


def _d8(value: str) -> date | None:
    if len(value) != 8 or not value.isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


@dataclass(slots=True)
class _Level:
    code: str
    party: Party270 | None = None
    trace: tuple[str | None, str | None] | None = None
    dates: tuple[str | None, date | None, date | None] | None = None
    inquiries: list[Eq270] = field(default_factory=list)
    has_child: bool = False


def read_270(data: bytes | str) -> list[Request270]:
    """Every patient inquiry in a 270 interchange, in file order.

    A subscriber level (HL 22) is a request when it asks something itself (EQ) or has no
    dependents; each dependent level (HL 23) is a request. Raises `NotX12Error` or
    `TruncatedInterchangeError` when the input is not X12, `StructureError` when it holds no
    270 transaction.
    """
    tokens = tokenize(data)
    envelope = walk_envelope(tokens)
    spans = [span for span in envelope.transactions if span.transaction_set == "270"]
    if not spans:
        raise StructureError("no 270 transaction set in the interchange", code="not_270")
    requests: list[Request270] = []
    unreadable: list[ReadWarning] = []
    for span in spans:
        implementation = span.implementation or span.group_version
        try:
            requests.extend(
                _read_transaction(tokens, span.start, span.end, span.control_number, implementation)
            )
        except (IndexError, KeyError, ValueError, TypeError, AttributeError):
            # One transaction that cannot be walked does not sink the others; it is reported.
            unreadable.append(
                ReadWarning(
                    "transaction_unreadable",
                    "a 270 transaction could not be walked and was left out",
                    span.start + 1,
                )
            )
    if not requests and unreadable:
        raise StructureError("no 270 transaction could be walked", segment=unreadable[0].segment)
    for warning in envelope.warnings + tokens.warnings + unreadable:
        for request in requests:
            request.warnings.append(warning)
    return requests


def _read_transaction(
    tokens: Tokens, start: int, end: int, control_number: str, implementation: str | None
) -> list[Request270]:
    segments = tokens.segments
    component = tokens.delimiters.component
    repetition = tokens.delimiters.repetition
    reference: str | None = None
    levels: dict[str, _Level] = {}
    parents: dict[str, str] = {}
    by_id: dict[str, str] = {}
    order: list[str] = []
    current: _Level | None = None
    current_eq: Eq270 | None = None
    warnings: list[ReadWarning] = []

    for index in range(start + 1, end):
        seg = segments[index]
        seg_id = seg[0]
        position = index + 1
        if seg_id == "BHT":
            reference = _opt(seg, 3)
        elif seg_id == "HL":
            hl_id = _el(seg, 1)
            parent = _el(seg, 2)
            current = _Level(code=_el(seg, 3))
            current_eq = None
            # Levels are keyed by occurrence, so a repeated HL id does not hide the first one;
            # HL02 refers to the latest level with that id.
            key = str(len(order))
            if hl_id in by_id:
                warnings.append(
                    ReadWarning("hl_id_repeated", "HL01 repeats an earlier HL id", position)
                )
            levels[key] = current
            order.append(key)
            if parent:
                if parent in by_id:
                    parents[key] = by_id[parent]
                    levels[by_id[parent]].has_child = True
                else:
                    warnings.append(
                        ReadWarning("hl_parent_unknown", "HL02 names no earlier HL", position)
                    )
            by_id[hl_id] = key
        elif current is None:
            warnings.append(
                ReadWarning("outside_hl", "a segment before the first HL was ignored", position)
            )
            continue
        elif seg_id == "NM1":
            current.party = Party270(
                entity_id=_el(seg, 1),
                entity_type=_opt(seg, 2),
                last_name=_opt(seg, 3),
                first_name=_opt(seg, 4),
                middle_name=_opt(seg, 5),
                suffix=_opt(seg, 7),
                id_qualifier=_opt(seg, 8),
                identifier=_opt(seg, 9),
            )
            current_eq = None
        elif seg_id == "TRN":
            if current.trace is None and _el(seg, 1) in ("1", ""):
                current.trace = (_opt(seg, 2), _opt(seg, 3))
        # Limitation: N3/N4/PRV/HI/III/AMT are not read; the simulator and tests do not need them.
        elif seg_id == "REF" and current.party is not None:
            current.party.references.append((_el(seg, 1), _el(seg, 2)))
        elif seg_id == "DMG" and current.party is not None:
            current.party.birth_date = _d8(_el(seg, 2)) if _el(seg, 1) == "D8" else None
            if _el(seg, 2) and current.party.birth_date is None:
                warnings.append(ReadWarning("dmg_date", "DMG02 is not a D8 date", position))
            current.party.gender = _opt(seg, 3)
        elif seg_id == "INS" and current.party is not None:
            current.party.relationship_code = _opt(seg, 2)
        elif seg_id == "DTP":
            qualifier = _el(seg, 1)
            dates = _dates(_el(seg, 2), _el(seg, 3))
            if dates is None:
                warnings.append(ReadWarning("dtp_date", "DTP03 is not a D8/RD8 date", position))
                dates = (None, None)
            if current_eq is not None:
                current_eq.date_qualifier = qualifier
                current_eq.date_from, current_eq.date_to = dates
            elif qualifier in SERVICE_DATE_QUALIFIERS:
                current.dates = (qualifier, dates[0], dates[1])
        elif seg_id == "EQ":
            current_eq = _eq(seg, component, repetition, position)
            current.inquiries.append(current_eq)

    return _requests(levels, parents, order, control_number, implementation, reference, warnings)


def _dates(fmt: str, value: str) -> tuple[date | None, date | None] | None:
    if fmt == "D8":
        day = _d8(value)
        return (day, day) if day is not None else None
    if fmt == "RD8" and "-" in value:
        first, last = value.split("-", 1)
        start, end = _d8(first), _d8(last)
        return (start, end) if start is not None and end is not None else None
    return None


def _eq(seg: list[str], component: str, repetition: str | None, position: int) -> Eq270:
    eq01 = _el(seg, 1)
    if eq01 and repetition:
        service_types = [code.strip() for code in eq01.split(repetition) if code.strip()]
    else:
        service_types = [eq01] if eq01 else []
    procedure: Procedure | None = None
    eq02 = _el(seg, 2)
    if eq02:
        parts = [part.strip() for part in eq02.split(component)]
        procedure = Procedure(
            qualifier=parts[0],
            code=parts[1] if len(parts) > 1 else "",
            modifiers=[part for part in parts[2:6] if part],
        )
    return Eq270(
        service_types=service_types,
        procedure=procedure,
        coverage_level=_opt(seg, 3),
        segment=position,
    )


def _requests(
    levels: dict[str, _Level],
    parents: dict[str, str],
    order: list[str],
    control_number: str,
    implementation: str | None,
    reference: str | None,
    warnings: list[ReadWarning],
) -> list[Request270]:
    # Nearest level with a code at or above a node, remembered for every node on the way up, so
    # a long chain of levels costs linear time, not quadratic. Parents always come earlier in
    # the file (HL02 is resolved when read), so the walk cannot loop.
    nearest: dict[tuple[str, str], _Level | None] = {}

    def ancestor(hl_id: str, code: str) -> _Level | None:
        path: list[str] = []
        node = parents.get(hl_id)
        found: _Level | None = None
        while node is not None and len(path) <= len(levels):
            key = (node, code)
            if key in nearest:
                found = nearest[key]
                break
            level = levels.get(node)
            if level is not None and level.code == code:
                found = level
                break
            path.append(node)
            node = parents.get(node)
        for passed in path:
            nearest[(passed, code)] = found
        return found

    out: list[Request270] = []
    for hl_id in order:
        level = levels[hl_id]
        subscriber: _Level | None
        dependent: _Level | None
        if level.code == "22" and (level.inquiries or not level.has_child):
            subscriber, dependent = level, None
        elif level.code == "23":
            subscriber, dependent = ancestor(hl_id, "22"), level
        else:
            continue
        patient = level
        payer = ancestor(hl_id, "20")
        provider = ancestor(hl_id, "21")
        trace = patient.trace or (subscriber.trace if subscriber is not None else None)
        dates = patient.dates or (subscriber.dates if subscriber is not None else None)
        out.append(
            Request270(
                control_number=control_number,
                implementation=implementation,
                reference=reference,
                payer=payer.party if payer is not None else None,
                provider=provider.party if provider is not None else None,
                subscriber=subscriber.party if subscriber is not None else None,
                dependent=dependent.party if dependent is not None else None,
                trace=trace[0] if trace is not None else None,
                trace_originator=trace[1] if trace is not None else None,
                date_qualifier=dates[0] if dates is not None else None,
                date_from=dates[1] if dates is not None else None,
                date_to=dates[2] if dates is not None else None,
                inquiries=list(patient.inquiries),
                warnings=list(warnings),
            )
        )
    return out
