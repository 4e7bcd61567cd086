"""The simulator's plan book: payers, their habits and faults, plans and members (YAML).

Validated with pydantic at load; an error names the entry (payer, plan, member) and the field.
See the README ("The payer simulator") for the format, the payers and the demo members.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_PLAN_BOOK = Path(__file__).resolve().parent.parent / "data" / "plan-book.yaml"

_STC = r"^[A-Z0-9]{1,2}$"


class PlanBookError(ValueError):
    """The plan book is malformed; the message names the entry and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NetworkValues(_Model):
    """What one network bucket pays for a benefit."""

    covered: bool = True
    copay: Decimal | None = Field(default=None, ge=0)
    coinsurance: Decimal | None = Field(default=None, ge=0, le=1)


class BenefitSpec(_Model):
    """Benefits for one service type (EB03)."""

    service_type: str = Field(pattern=_STC)
    in_network: NetworkValues | None = None
    out_of_network: NetworkValues | None = None
    prior_auth: bool = False
    visit_limit: int | None = Field(default=None, ge=0)
    visits_remaining: int | None = Field(default=None, ge=0)
    messages: list[str] = Field(default_factory=list)


class ProcedureSpec(_Model):
    """Benefits for one procedure code, sent with EB13 by payers that honour procedure codes."""

    service_type: str | None = Field(default=None, pattern=_STC)
    in_network: NetworkValues | None = None
    out_of_network: NetworkValues | None = None
    prior_auth: bool = False
    visit_limit: int | None = Field(default=None, ge=0)
    visits_remaining: int | None = Field(default=None, ge=0)
    messages: list[str] = Field(default_factory=list)


class Accumulator(_Model):
    total: Decimal = Field(ge=0)
    remaining: Decimal = Field(ge=0)

    @model_validator(mode="after")
    def _remaining_within_total(self) -> Accumulator:
        if self.remaining > self.total:
            raise ValueError("remaining is more than total")
        return self


class Accumulators(_Model):
    individual: Accumulator | None = None
    family: Accumulator | None = None


class NetworkAccumulators(_Model):
    in_network: Accumulators | None = None
    out_of_network: Accumulators | None = None


class PlanSpec(_Model):
    name: str = Field(min_length=1, max_length=50)
    insurance_type: str = Field(default="C1", pattern=r"^[A-Z0-9]{1,3}$")
    group_number: str | None = None
    plan_begin: date = date(2026, 1, 1)
    deductible: NetworkAccumulators | None = None
    out_of_pocket: NetworkAccumulators | None = None
    benefits: list[BenefitSpec] = Field(default_factory=list)
    procedures: dict[str, ProcedureSpec] = Field(default_factory=dict)
    messages: list[str] = Field(default_factory=list)


class OtherPayer(_Model):
    name: str
    id: str
    role: Literal["primary", "secondary", "tertiary"] = "secondary"


class Dependent(_Model):
    first_name: str = Field(min_length=1)
    last_name: str = Field(min_length=1)
    birth_date: date
    gender: Literal["M", "F", "U"] = "U"
    relationship: str = Field(default="19", pattern=r"^\d{2}$")
    active: bool = True


class Member(_Model):
    member_id: str = Field(min_length=2, max_length=80)
    first_name: str = Field(min_length=1)
    last_name: str = Field(min_length=1)
    birth_date: date
    gender: Literal["M", "F", "U"] = "U"
    plan: str
    active: bool = True
    coverage_end: date | None = None
    other_payers: list[OtherPayer] = Field(default_factory=list)
    dependents: list[Dependent] = Field(default_factory=list)


class Delimiters(_Model):
    element: str = Field(default="*", min_length=1, max_length=1)
    component: str = Field(default=":", min_length=1, max_length=1)
    repetition: str = Field(default="^", min_length=1, max_length=1)
    segment: str = Field(default="~", min_length=1, max_length=1)
    after_segment: str = Field(default="\n", max_length=2)

    @model_validator(mode="after")
    def _distinct(self) -> Delimiters:
        chars = [self.element, self.component, self.repetition, self.segment]
        if len(set(chars)) != 4:
            raise ValueError("delimiters must be four different characters")
        if any(c.isalnum() or c == " " for c in chars):
            raise ValueError("delimiters must not be letters, digits or spaces")
        return self


class Habits(_Model):
    """How this payer answers."""

    procedure_codes: Literal["honour", "ignore"] = "honour"
    plan_level_only: bool = False
    sentinels: bool = False
    delimiters: Delimiters = Field(default_factory=Delimiters)


# Limitation: the latency distribution is uniform between two bounds only.
class Latency(_Model):
    """Response delay in milliseconds: uniform between min and max."""

    min_ms: float = Field(default=0, ge=0)
    max_ms: float = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Latency:
        if self.max_ms < self.min_ms:
            raise ValueError("max_ms is less than min_ms")
        return self


FAULT_NAMES = (
    "timeout",
    "http_500",
    "http_503",
    "http_429",
    "aaa42",
    "aaa80",
    "truncated",
    "non_x12",
    "drop",
    "envelope_error",
)


class Faults(_Model):
    """Injected faults: a latency distribution, a rate (0..1) per fault, down-for-first-N."""

    latency: Latency = Field(default_factory=Latency)
    rates: dict[str, float] = Field(default_factory=dict)
    retry_after_seconds: int = Field(default=5, ge=0)
    timeout_hold_seconds: float = Field(default=75, gt=0)
    down_first_requests: int = Field(default=0, ge=0)
    down_status: Literal[500, 503] = 503

    @model_validator(mode="after")
    def _known_rates(self) -> Faults:
        for name, rate in self.rates.items():
            if name not in FAULT_NAMES:
                raise ValueError(f"unknown fault {name!r} (known: {', '.join(FAULT_NAMES)})")
            if not 0 <= rate <= 1:
                raise ValueError(f"rate of {name} must be between 0 and 1")
        return self


class PayerBook(_Model):
    name: str = Field(min_length=1, max_length=60)
    providers: list[str] | None = None
    habits: Habits = Field(default_factory=Habits)
    faults: Faults = Field(default_factory=Faults)
    plans: dict[str, PlanSpec]
    members: list[Member] = Field(default_factory=list)

    @model_validator(mode="after")
    def _members_have_plans(self) -> PayerBook:
        ids: set[str] = set()
        for member in self.members:
            if member.plan not in self.plans:
                raise ValueError(
                    f"member {member.member_id} field plan: unknown plan {member.plan}"
                )
            if member.member_id in ids:
                raise ValueError(f"member {member.member_id} field member_id: duplicate")
            ids.add(member.member_id)
        return self

    def member(self, member_id: str | None) -> Member | None:
        for member in self.members:
            if member_id and member.member_id.upper() == member_id.upper():
                return member
        return None


class PlanBook(_Model):
    providers: list[str] = Field(default_factory=list)
    payers: dict[str, PayerBook]

    def payer(self, payer_id: str) -> PayerBook | None:
        return self.payers.get(payer_id)

    def knows_provider(self, payer: PayerBook, npi: str | None) -> bool:
        allowed = payer.providers if payer.providers is not None else self.providers
        return bool(npi) and npi in allowed


def _entry_name(raw: Any, loc: list[Any]) -> str:
    """Turn a pydantic location into 'payer X member Y field Z'."""
    words: list[str] = []
    node = raw
    i = 0
    while i < len(loc):
        key = loc[i]
        if key in ("payers", "plans", "procedures") and i + 1 < len(loc):
            label = {"payers": "payer", "plans": "plan", "procedures": "procedure"}[key]
            words.append(f"{label} {loc[i + 1]}")
            node = node.get(key, {}).get(loc[i + 1]) if isinstance(node, dict) else None
            i += 2
            continue
        if key in ("members", "dependents", "benefits") and i + 1 < len(loc):
            items = node.get(key) if isinstance(node, dict) else None
            item = (
                items[loc[i + 1]] if isinstance(items, list) and loc[i + 1] < len(items) else None
            )
            label = {"members": "member", "dependents": "dependent", "benefits": "benefit"}[key]
            ident = None
            if isinstance(item, dict):
                ident = item.get("member_id") or item.get("service_type") or item.get("first_name")
            words.append(f"{label} {ident or '#' + str(loc[i + 1])}")
            node = item
            i += 2
            continue
        break
    rest = ".".join(str(x) for x in loc[i:])
    if rest:
        words.append(f"field {rest}")
    return " ".join(words) or "plan book"


def parse_plan_book(text: str, source: str = "plan book") -> PlanBook:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise PlanBookError(f"{source}: not valid YAML{line}") from None
    if not isinstance(raw, dict):
        raise PlanBookError(f"{source}: expected a mapping with 'payers'")
    try:
        return PlanBook.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_entry_name(raw, list(e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise PlanBookError(f"{source}: " + "; ".join(problems)) from None


def load_plan_book(path: str | Path | None = None) -> PlanBook:
    """Read and validate a plan book file (default: the shipped demo plan book)."""
    file = Path(path) if path else DEFAULT_PLAN_BOOK
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanBookError(f"{file}: cannot read ({exc.strerror})") from None
    return parse_plan_book(text, str(file))
