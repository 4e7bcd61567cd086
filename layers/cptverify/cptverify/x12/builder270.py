"""Build 005010X279A1 270 eligibility inquiries from an `Inquiry`.

One patient per transaction and one transaction per interchange (the real-time mode CAQH CORE
describes). The hierarchy is 2000A payer (HL 20) > 2000B provider (HL 21) > 2000C subscriber
(HL 22) > 2000D dependent (HL 23, only when the patient is a dependent). The patient's loop
carries the TRN trace, DMG (when the birth date is known), INS for a dependent, DTP*291 with the
date of service, and one 2110 EQ per procedure (`EQ**HC:99213:GP`) and per requested service
type (`EQ*98`). When the payer does not take procedure codes, each procedure is asked as the
service types the crosswalk gives for it instead, one EQ per distinct service type.

More procedures than the payer accepts in one inquiry are split over several interchanges, in
the order given; `Build270Result.payer_calls` says how many and each `Built270` says which
procedures it carries. Control numbers (ISA13, GS06, ST02) and traces come from injectable
sources so tests are stable; the defaults are random starting points, unique within a build.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal

from cptverify.benefits.crosswalk import service_types_for
from cptverify.inquiry import Inquiry, ProcedureRequest
from cptverify.x12.names import clean_text, normalize_last_name

IMPLEMENTATION = "005010X279A1"
MAX_EQ_PER_PATIENT = 99  # 2110C/2110D repeat
_ISA_ID_LENGTH = 15
_ALLOWED_QUALIFIERS = frozenset({"01", "14", "20", "27", "28", "29", "30", "33", "ZZ"})
# Characters our values may carry; a delimiter must be none of these.
_VALUE_CHARACTERS = frozenset("&'-.,/#() ")


class BuildError(ValueError):
    """The envelope configuration or payer capabilities cannot produce a valid 270."""


@dataclass(frozen=True, slots=True)
class EnvelopeConfig:
    """Who sends to whom (ISA/GS), the usage indicator and the delimiters to write."""

    sender_id: str
    receiver_id: str
    sender_qualifier: str = "ZZ"
    receiver_qualifier: str = "ZZ"
    application_sender: str | None = None
    application_receiver: str | None = None
    usage: Literal["T", "P"] = "T"
    acknowledgment_requested: Literal["0", "1"] = "0"
    trace_originator: str = "9CPTVERIFY"
    element_separator: str = "*"
    component_separator: str = ":"
    repetition_separator: str = "^"
    segment_terminator: str = "~"
    line_break: bool = False

    def check(self) -> None:
        """Raise `BuildError` naming the setting that cannot be written in an ISA or GS."""
        for name, value in (("sender_id", self.sender_id), ("receiver_id", self.receiver_id)):
            if not 1 <= len(value) <= _ISA_ID_LENGTH or not _printable(value) or not value.strip():
                raise BuildError(f"{name} must be 1 to 15 printable characters, not all spaces")
        # GS02/GS03 default to the ISA ids but must be 2 to 15 characters (X12 element 142/124).
        for name, gs_default, given in (
            ("sender_id", self.sender_id, self.application_sender),
            ("receiver_id", self.receiver_id, self.application_receiver),
        ):
            if given is None and len(gs_default.strip()) < 2:
                raise BuildError(
                    f"{name} is also the GS id, which needs 2 to 15 characters; "
                    f"give a longer id or application_{name.split('_')[0]}"
                )
        for name, value in (
            ("sender_qualifier", self.sender_qualifier),
            ("receiver_qualifier", self.receiver_qualifier),
        ):
            if value not in _ALLOWED_QUALIFIERS:
                raise BuildError(f"{name} must be an ISA id qualifier such as ZZ or 30")
        for name, gs_value in (
            ("application_sender", self.application_sender),
            ("application_receiver", self.application_receiver),
        ):
            if gs_value is not None and (
                not 2 <= len(gs_value.strip()) <= 15 or not _printable(gs_value)
            ):
                raise BuildError(f"{name} must be 2 to 15 printable characters")
        if self.usage not in ("T", "P"):
            raise BuildError("usage must be T (test) or P (production)")
        if len(self.trace_originator) != 10 or not self.trace_originator.isalnum():
            raise BuildError("trace_originator must be 10 letters or digits")
        delimiters = self.delimiters
        if any(len(d) != 1 for d in delimiters):
            raise BuildError("each delimiter must be a single character")
        if len(set(delimiters)) != 4:
            raise BuildError("the four delimiters must all differ")
        for d in delimiters:
            if d.isalnum() or d in _VALUE_CHARACTERS:
                raise BuildError("a delimiter must not be a letter, digit, space or & ' - . , / #")
            if not d.isascii():
                raise BuildError("a delimiter must be an ASCII character")
        # Readers find separators by counting in the ISA and trim whitespace around elements, so
        # only the segment terminator may be a newline or other whitespace.
        if any(d.isspace() for d in delimiters[:3]):
            raise BuildError("only the segment terminator may be whitespace")
        for name, id_value in (
            ("sender_id", self.sender_id),
            ("receiver_id", self.receiver_id),
            ("application_sender", self.application_sender),
            ("application_receiver", self.application_receiver),
        ):
            if id_value is not None and any(d in id_value for d in delimiters):
                raise BuildError(f"{name} must not contain a delimiter")

    @property
    def delimiters(self) -> tuple[str, str, str, str]:
        return (
            self.element_separator,
            self.component_separator,
            self.repetition_separator,
            self.segment_terminator,
        )


@dataclass(frozen=True, slots=True)
class PayerCapabilities:
    """What a payer takes in a 270 (from the payer registry)."""

    accepts_procedure_codes: bool = True
    max_procedures_per_inquiry: int = MAX_EQ_PER_PATIENT
    accepts_gender: bool = True

    @classmethod
    def from_settings(cls, settings: object) -> PayerCapabilities:
        """Capabilities from any object with the same attribute names (a registry entry)."""
        default = cls()
        return cls(
            accepts_procedure_codes=bool(
                getattr(settings, "accepts_procedure_codes", default.accepts_procedure_codes)
            ),
            max_procedures_per_inquiry=int(
                getattr(settings, "max_procedures_per_inquiry", default.max_procedures_per_inquiry)
            ),
            accepts_gender=bool(getattr(settings, "accepts_gender", default.accepts_gender)),
        )


@dataclass(frozen=True, slots=True)
class Built270:
    """One interchange: the X12 text, its trace and control numbers, what it asks."""

    x12: str
    trace: str
    interchange_control_number: str
    group_control_number: str
    transaction_control_number: str
    procedure_indexes: tuple[int, ...]
    procedures: tuple[ProcedureRequest, ...]
    service_types: tuple[str, ...]
    segment_count: int


@dataclass(frozen=True, slots=True)
class Build270Result:
    """Every interchange one inquiry needs; `payer_calls` is how many are sent."""

    interchanges: tuple[Built270, ...]

    @property
    def payer_calls(self) -> int:
        return len(self.interchanges)

    @property
    def traces(self) -> tuple[str, ...]:
        return tuple(built.trace for built in self.interchanges)

    def call_for(self, procedure_index: int) -> int | None:
        """The 0-based payer call that carries `inquiry.procedures[procedure_index]`."""
        for call, built in enumerate(self.interchanges):
            if procedure_index in built.procedure_indexes:
                return call
        return None


def random_control_numbers() -> Iterator[int]:
    """Control numbers counting up from a random start (ISA13 stays within 9 digits)."""
    number = 1 + secrets.randbelow(899_999_999)
    while True:
        yield number
        number = number + 1 if number < 999_999_999 else 1


def sequential_control_numbers(start: int = 1) -> Iterator[int]:
    """Control numbers 1, 2, 3 ... (for tests and reproducible output)."""
    number = start
    while True:
        yield number
        number += 1


def random_trace() -> str:
    """A trace number (TRN02) unique enough to match a 271 to its 270."""
    return uuid.uuid4().hex.upper()


@dataclass(slots=True)
class _Writer:
    config: EnvelopeConfig
    segments: list[str] = field(default_factory=list)

    def add(self, *elements: str) -> None:
        values = list(elements)
        while values and values[-1] == "":
            values.pop()
        self.segments.append(self.config.element_separator.join(values))

    def composite(self, *components: str) -> str:
        values = list(components)
        while values and values[-1] == "":
            values.pop()
        return self.config.component_separator.join(values)


# Limitation: real-time mode only (one patient per interchange); no batch 270 with several
# patients is written.
def build_270(
    inquiry: Inquiry,
    config: EnvelopeConfig,
    capabilities: PayerCapabilities | None = None,
    *,
    control_numbers: Iterator[int] | None = None,
    trace_factory: Callable[[], str] | None = None,
    now: datetime | None = None,
) -> Build270Result:
    """Build the 270 interchange(s) that ask the payer about every procedure of `inquiry`."""
    config.check()
    capabilities = capabilities or PayerCapabilities()
    if not 1 <= capabilities.max_procedures_per_inquiry <= MAX_EQ_PER_PATIENT:
        raise BuildError("max_procedures_per_inquiry must be between 1 and 99")
    numbers = control_numbers if control_numbers is not None else random_control_numbers()
    new_trace = trace_factory or random_trace
    moment = now or datetime.now(UTC)

    built: list[Built270] = []
    for indexes, service_types in _plan_calls(inquiry, capabilities):
        interchange_number = next(numbers)
        group_number = next(numbers)
        transaction_number = next(numbers)
        trace = clean_text(new_trace(), "".join(config.delimiters)).replace(" ", "")
        if not 1 <= len(trace) <= 50:
            raise BuildError("a trace must be 1 to 50 characters")
        procedures = tuple(inquiry.procedures[i] for i in indexes)
        x12, count = _interchange(
            inquiry,
            config,
            capabilities,
            procedures,
            service_types,
            trace=trace,
            numbers=(interchange_number, group_number, transaction_number),
            moment=moment,
        )
        built.append(
            Built270(
                x12=x12,
                trace=trace,
                interchange_control_number=f"{interchange_number % 1_000_000_000:09d}",
                group_control_number=str(group_number % 1_000_000_000),
                transaction_control_number=f"{transaction_number % 1_000_000_000:04d}",
                procedure_indexes=tuple(indexes),
                procedures=procedures,
                service_types=service_types,
                segment_count=count,
            )
        )
    return Build270Result(tuple(built))


def _plan_calls(
    inquiry: Inquiry, capabilities: PayerCapabilities
) -> list[tuple[list[int], tuple[str, ...]]]:
    """Group procedure positions into payer calls; explicit service types go in the first."""
    limit = capabilities.max_procedures_per_inquiry
    explicit = tuple(inquiry.service_types)
    indexes = list(range(len(inquiry.procedures)))
    calls: list[tuple[list[int], tuple[str, ...]]] = []
    first_room = min(limit, MAX_EQ_PER_PATIENT - len(explicit))
    if first_room < 1 and indexes:
        calls.append(([], explicit))
        explicit = ()
        first_room = limit
    calls.append((indexes[:first_room], explicit))
    rest = indexes[first_room:]
    while rest:
        calls.append((rest[:limit], ()))
        rest = rest[limit:]
    return calls


def _interchange(
    inquiry: Inquiry,
    config: EnvelopeConfig,
    capabilities: PayerCapabilities,
    procedures: tuple[ProcedureRequest, ...],
    service_types: tuple[str, ...],
    *,
    trace: str,
    numbers: tuple[int, int, int],
    moment: datetime,
) -> tuple[str, int]:
    isa13 = f"{numbers[0] % 1_000_000_000:09d}"
    gs06 = str(numbers[1] % 1_000_000_000)
    st02 = f"{numbers[2] % 1_000_000_000:04d}"
    element = config.element_separator
    w = _Writer(config)
    isa = element.join(
        [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            config.sender_qualifier,
            config.sender_id.ljust(_ISA_ID_LENGTH),
            config.receiver_qualifier,
            config.receiver_id.ljust(_ISA_ID_LENGTH),
            moment.strftime("%y%m%d"),
            moment.strftime("%H%M"),
            config.repetition_separator,
            "00501",
            isa13,
            config.acknowledgment_requested,
            config.usage,
            config.component_separator,
        ]
    )
    w.segments.append(isa)
    w.add(
        "GS",
        "HS",
        config.application_sender or config.sender_id,
        config.application_receiver or config.receiver_id,
        moment.strftime("%Y%m%d"),
        moment.strftime("%H%M"),
        gs06,
        "X",
        IMPLEMENTATION,
    )
    st_index = len(w.segments)
    w.add("ST", "270", st02, IMPLEMENTATION)
    w.add("BHT", "0022", "13", trace, moment.strftime("%Y%m%d"), moment.strftime("%H%M%S"))
    _transaction_body(w, inquiry, capabilities, procedures, service_types, trace)
    segment_count = len(w.segments) - st_index + 1
    w.add("SE", str(segment_count), st02)
    w.add("GE", "1", gs06)
    w.add("IEA", "1", isa13)
    separator = config.segment_terminator + ("\n" if config.line_break else "")
    return separator.join(w.segments) + separator, segment_count


def _transaction_body(
    w: _Writer,
    inquiry: Inquiry,
    capabilities: PayerCapabilities,
    procedures: tuple[ProcedureRequest, ...],
    service_types: tuple[str, ...],
    trace: str,
) -> None:
    forbidden = "".join(w.config.delimiters)
    dependent = inquiry.dependent
    subscriber = inquiry.subscriber
    provider = inquiry.provider

    w.add("HL", "1", "", "20", "1")
    payer_name = _required(clean_text(inquiry.payer.name, forbidden), "payer.name")
    w.add("NM1", "PR", "2", payer_name, "", "", "", "", "PI", inquiry.payer.id)

    w.add("HL", "2", "1", "21", "1")
    if provider.is_person:
        w.add(
            "NM1",
            "1P",
            "1",
            _required(normalize_last_name(provider.last_name or ""), "provider.last_name"),
            clean_text(provider.first_name or "", forbidden),
            "",
            "",
            "",
            "XX",
            provider.npi,
        )
    else:
        organization = clean_text(provider.organization_name or "", forbidden)
        _required(organization, "provider.organization_name")
        w.add("NM1", "1P", "2", organization, "", "", "", "", "XX", provider.npi)

    w.add("HL", "3", "2", "22", "1" if dependent is not None else "0")
    if dependent is None:
        w.add("TRN", "1", trace, w.config.trace_originator)
        w.add(
            "NM1",
            "IL",
            "1",
            _required(normalize_last_name(subscriber.last_name), "subscriber.last_name"),
            clean_text(subscriber.first_name, forbidden),
            "",
            "",
            "",
            "MI",
            subscriber.member_id,
        )
        _demographics(w, subscriber.birth_date, subscriber.gender, capabilities)
    else:
        w.add("NM1", "IL", "1", "", "", "", "", "", "MI", subscriber.member_id)
        w.add("HL", "4", "3", "23", "0")
        w.add("TRN", "1", trace, w.config.trace_originator)
        w.add(
            "NM1",
            "03",
            "1",
            _required(normalize_last_name(dependent.last_name), "dependent.last_name"),
            clean_text(dependent.first_name, forbidden),
        )
        _demographics(w, dependent.birth_date, dependent.gender, capabilities)
        w.add("INS", "N", dependent.relationship_code)
    w.add("DTP", "291", "D8", _d8(inquiry.date_of_service))

    for eq in _eq_segments(w, procedures, service_types, capabilities):
        w.add(*eq)


def _demographics(
    w: _Writer, birth_date: date | None, gender: str | None, capabilities: PayerCapabilities
) -> None:
    if birth_date is None:
        return
    send_gender = gender if capabilities.accepts_gender and gender in ("M", "F") else ""
    w.add("DMG", "D8", _d8(birth_date), send_gender)


def _eq_segments(
    w: _Writer,
    procedures: tuple[ProcedureRequest, ...],
    service_types: tuple[str, ...],
    capabilities: PayerCapabilities,
) -> list[tuple[str, ...]]:
    segments: list[tuple[str, ...]] = []
    if capabilities.accepts_procedure_codes:
        for procedure in procedures:
            composite = w.composite(procedure.code_qualifier, procedure.code, *procedure.modifiers)
            segments.append(("EQ", "", composite))
        asked = list(service_types)
    else:
        asked = list(service_types)
        for procedure in procedures:
            for code in service_types_for(
                procedure.code, procedure.code_qualifier, procedure.modifiers
            ):
                if code not in asked:
                    asked.append(code)
    if len(segments) + len(asked) > MAX_EQ_PER_PATIENT:
        raise BuildError("one 270 cannot carry more than 99 EQ loops; lower the payer maximum")
    # Limitation: a payer that ignores all but the first EQ answers only that one; the
    # payer registry's max_procedures_per_inquiry of 1 is the way to ask one at a time.
    segments.extend(("EQ", code) for code in asked)
    return segments


def _d8(day: date) -> str:
    """CCYYMMDD, always eight digits (strftime's %Y drops the zeros of a year before 1000)."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _required(value: str, name: str) -> str:
    if not value:
        raise BuildError(f"{name} has no characters an X12 270 can carry")
    return value


def _printable(value: str) -> bool:
    return all(" " <= char <= "~" for char in value)
