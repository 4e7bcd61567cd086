"""The 271 as typed data: what a payer said, loop by loop, with nothing invented.

Plain dataclasses keep reading fast and imports light; the JSON view lives in `x12.json_view`.
A value the payer did not send is `None` (never 0). Amounts and percents are `Decimal`; a percent
is a fraction as sent in EB08 (`.2` is 20%). Codes are kept raw, even when they are not in the
implementation guide's lists, so later steps can classify them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal, NoReturn

CoverageStatus = Literal["active", "inactive", "rejected", "unknown"]
PatientRole = Literal["subscriber", "dependent"]


class ReadOnlyEmptyList(list[Any]):
    """An empty list that refuses every change; `NO_ITEMS` is its one instance.

    The reader gives it to the list fields of a benefit row that carries no such segment (most
    rows have no MSG, III, DTP, ...), instead of seven new empty lists per row. It equals `[]`
    and reads like any list. A row that does carry such a segment gets its own new list (the
    reader assigns one; it never appends to `NO_ITEMS`).
    """

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("NO_ITEMS is shared and read-only: assign a new list to the field instead")

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __copy__(self) -> list[Any]:
        return []

    def __deepcopy__(self, memo: dict[int, object]) -> list[Any]:
        return []

    def __reduce__(self) -> tuple[type[list[Any]], tuple[()]]:
        return (list, ())


# Limitation: appending to a read row's list field that holds NO_ITEMS raises TypeError (assign).
NO_ITEMS: list[Any] = ReadOnlyEmptyList()


@dataclass(slots=True)
class ReadWarning:
    """Something wrong with the file that did not stop us reading it."""

    code: str
    message: str
    segment: int | None = None


@dataclass(slots=True)
class Aaa:
    """One AAA (request validation) segment, with where it sat and what it means."""

    loop: str
    valid_request: str | None
    code: str | None
    follow_up: str | None
    description: str
    retryable: bool | None
    segment: int | None = None


@dataclass(slots=True)
class Procedure:
    """A composite medical procedure identifier (EB13 in a 271, EQ02 in a 270)."""

    qualifier: str
    code: str
    modifiers: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Address:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None


@dataclass(slots=True)
class Contact:
    """One PER segment: a name and up to three communication numbers."""

    function: str | None
    name: str | None
    channels: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class Entity:
    """An NM1 party (payer, receiver, 2120 benefit-related entity) with its companions."""

    entity_id: str
    entity_type: str | None = None
    last_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    id_qualifier: str | None = None
    id: str | None = None
    relationship: str | None = None
    address: Address | None = None
    contacts: list[Contact] = field(default_factory=list)
    provider_code: str | None = None
    taxonomy_qualifier: str | None = None
    taxonomy: str | None = None
    references: list[Reference] = field(default_factory=list)
    benefit_code: str | None = None


@dataclass(slots=True)
class DateValue:
    """A DTP segment: qualifier, format (D8 or RD8) and the dates it carries."""

    qualifier: str
    format: str | None
    raw: str
    start: date | None = None
    end: date | None = None


@dataclass(slots=True)
class Reference:
    qualifier: str
    value: str | None
    description: str | None = None


@dataclass(slots=True)
class Delivery:
    """An HSD segment: how often or how many of a benefit may be delivered."""

    quantity_qualifier: str | None = None
    quantity: Decimal | None = None
    unit: str | None = None
    sample_selection_modulus: Decimal | None = None
    time_period: str | None = None
    periods: Decimal | None = None
    frequency: str | None = None
    pattern: str | None = None


@dataclass(slots=True)
class PlaceOfService:
    """A 2115 III segment: a place of service (qualifier ZZ) or other qualifier and code."""

    qualifier: str | None
    code: str | None
    category: str | None = None


@dataclass(slots=True)
class Benefit:
    """One EB row of loop 2110C or 2110D and every segment that qualifies it."""

    code: str
    coverage_level: str | None = None
    service_types: list[str] = field(default_factory=list)
    insurance_type: str | None = None
    plan_description: str | None = None
    time_period: str | None = None
    amount: Decimal | None = None
    percent: Decimal | None = None
    quantity_qualifier: str | None = None
    quantity: Decimal | None = None
    authorization_required: str | None = None
    in_plan_network: str | None = None
    procedure: Procedure | None = None
    places_of_service: list[PlaceOfService] = field(default_factory=list)
    delivery: list[Delivery] = field(default_factory=list)
    dates: list[DateValue] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    related_entities: list[Entity] = field(default_factory=list)
    errors: list[Aaa] = field(default_factory=list)
    segment: int | None = None


@dataclass(slots=True)
class Trace:
    """A TRN segment. In a 271, TRN01 2 echoes the trace our 270 sent."""

    type: str
    number: str
    originator: str | None = None
    supplemental: str | None = None


@dataclass(slots=True)
class Coverage:
    """Plan-level context for one patient: plan, group, dates, other payers, related parties."""

    plan: str | None = None
    plan_number: str | None = None
    group_number: str | None = None
    group_name: str | None = None
    insurance_type: str | None = None
    dates: dict[str, DateValue] = field(default_factory=dict)
    other_payers: list[Entity] = field(default_factory=list)
    related_entities: list[Entity] = field(default_factory=list)


@dataclass(slots=True)
class Patient:
    """A subscriber (2000C) or dependent (2000D) and everything the payer said about them."""

    role: PatientRole
    member_id: str | None = None
    last_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    suffix: str | None = None
    birth_date: date | None = None
    gender: str | None = None
    relationship: str | None = None
    maintenance_reason: str | None = None
    address: Address | None = None
    references: list[Reference] = field(default_factory=list)
    traces: list[Trace] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)
    coverage_status: CoverageStatus = "unknown"
    status_notes: list[str] = field(default_factory=list)
    errors: list[Aaa] = field(default_factory=list)
    benefits: list[Benefit] = field(default_factory=list)
    subscriber_member_id: str | None = None
    hl_id: str | None = None


@dataclass(slots=True)
class Transaction271:
    """One ST/SE 271 transaction."""

    control_number: str
    implementation: str | None
    version: Literal["5010", "4010", "unknown"] = "unknown"
    purpose: str | None = None
    reference: str | None = None
    errors: list[Aaa] = field(default_factory=list)
    payer: Entity | None = None
    receiver: Entity | None = None
    patients: list[Patient] = field(default_factory=list)
    first_segment: int | None = None


@dataclass(slots=True)
class Interchange:
    """What one read of an X12 file produced: every transaction and every warning."""

    sender_id: str | None = None
    receiver_id: str | None = None
    control_number: str | None = None
    version: str | None = None
    functional_id: str | None = None
    warnings: list[ReadWarning] = field(default_factory=list)
    transactions: list[Transaction271] = field(default_factory=list)
