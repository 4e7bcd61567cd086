"""A 271 writer for the payer simulator (local only; never shipped in the layer).

It answers one parsed 270 from the plan book, following the payer's habits: procedure-level rows
(EB13) or not, plan-level only, 99999.99 sentinels, its own delimiters. Output is a complete,
well-formed interchange (fixed-width ISA, counted SE/GE/IEA) that our reader reads with no
envelope warnings.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from cptverify_local.simulator.planbook import (
    Accumulators,
    BenefitSpec,
    Delimiters,
    Member,
    NetworkAccumulators,
    NetworkValues,
    PayerBook,
    PlanBook,
    PlanSpec,
    ProcedureSpec,
)

SENTINEL = Decimal("99999.99")
_control = itertools.count(1)
_control_lock = threading.Lock()


def next_control() -> int:
    with _control_lock:
        return next(_control) % 1_000_000_000 or 1


@dataclass(slots=True)
class AskedProcedure:
    qualifier: str
    code: str
    modifiers: list[str] = field(default_factory=list)


@dataclass(slots=True)
class AskedPatient:
    """One 2000C or 2000D of the 270: who is asked about and what for."""

    dependent: bool
    member_id: str | None
    last_name: str | None
    first_name: str | None
    birth_date: date | None
    gender: str | None
    traces: list[tuple[str, str | None]] = field(default_factory=list)
    service_types: list[str] = field(default_factory=list)
    procedures: list[AskedProcedure] = field(default_factory=list)
    service_date: date | None = None


@dataclass(slots=True)
class AskedGroup:
    """A subscriber (2000C) and the dependents asked about under it."""

    subscriber: AskedPatient
    dependents: list[AskedPatient] = field(default_factory=list)


@dataclass(slots=True)
class Asked270:
    """What the simulator needs from one 270 transaction."""

    sender_id: str
    receiver_id: str
    reference: str | None
    payer_id: str | None
    provider_npi: str | None
    provider_entity_type: str = "1"
    provider_last_name: str | None = None
    provider_first_name: str | None = None
    groups: list[AskedGroup] = field(default_factory=list)


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _percent(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "0" else "0"


class Writer:
    """Accumulates segments with the payer's delimiters and renders the interchange."""

    def __init__(self, delimiters: Delimiters) -> None:
        self.d = delimiters
        self.segments: list[list[str]] = []
        self._bad = {delimiters.element, delimiters.component, delimiters.repetition}
        self._bad.add(delimiters.segment)

    def clean(self, value: str | None) -> str:
        if not value:
            return ""
        text = "".join(ch for ch in value if ch not in self._bad and ch.isprintable())
        return text.strip().upper()

    def add(self, *elements: str | None) -> None:
        items = [e or "" for e in elements]
        while len(items) > 1 and items[-1] == "":
            items.pop()
        self.segments.append(items)

    def composite(self, *parts: str) -> str:
        items = list(parts)
        while items and not items[-1]:
            items.pop()
        return self.d.component.join(items)

    def repeat(self, values: list[str]) -> str:
        return self.d.repetition.join(values)

    def render(self) -> str:
        sep = self.d.segment + self.d.after_segment
        return sep.join(self.d.element.join(s) for s in self.segments) + sep


def _fixed(value: str, width: int) -> str:
    return value[:width].ljust(width)


def _open(w: Writer, asked: Asked270, payer_name: str, now: datetime) -> tuple[str, int]:
    d = w.d
    control = f"{next_control():09d}"
    receiver = w.clean(asked.receiver_id) or "PAYER"
    sender = w.clean(asked.sender_id) or "SUBMITTER"
    w.add(
        "ISA", "00", " " * 10, "00", " " * 10, "ZZ", _fixed(receiver, 15), "ZZ", _fixed(sender, 15),
        now.strftime("%y%m%d"), now.strftime("%H%M"), d.repetition, "00501", control, "0", "T",
        d.component,
    )  # fmt: skip
    date8, time4 = now.strftime("%Y%m%d"), now.strftime("%H%M")
    w.add("GS", "HB", receiver, sender, date8, time4, str(int(control)), "X", "005010X279A1")
    st_index = len(w.segments)
    w.add("ST", "271", "0001", "005010X279A1")
    w.add("BHT", "0022", "11", w.clean(asked.reference) or control, date8, time4)
    return control, st_index


def _close(w: Writer, control: str, st_index: int) -> str:
    w.add("SE", str(len(w.segments) - st_index + 1), "0001")
    w.add("GE", "1", str(int(control)))
    w.add("IEA", "1", control)
    return w.render()


def write_271(
    asked: Asked270, book: PlanBook, payer: PayerBook, now: datetime | None = None
) -> str:
    """Answer one 270 with a 271 from the plan book."""
    w = Writer(payer.habits.delimiters)
    control, st_index = _open(w, asked, payer.name, now or datetime.now())
    w.add("HL", "1", "", "20", "1")
    w.add("NM1", "PR", "2", w.clean(payer.name), "", "", "", "", "PI", w.clean(asked.payer_id))
    _write_receiver_and_patients(w, asked, book, payer)
    return _close(w, control, st_index)


def _write_receiver_and_patients(
    w: Writer, asked: Asked270, book: PlanBook, payer: PayerBook
) -> None:
    known = book.knows_provider(payer, asked.provider_npi)
    w.add("HL", "2", "1", "21", "1" if known and asked.groups else "0")
    w.add(
        "NM1", "1P", asked.provider_entity_type or "1",
        w.clean(asked.provider_last_name) or "PROVIDER", w.clean(asked.provider_first_name),
        "", "", "", "XX", w.clean(asked.provider_npi),
    )  # fmt: skip
    if not known:
        w.add("AAA", "N", "", "51", "C")
        return
    hl = 2
    for group in asked.groups:
        hl += 1
        sub_hl = hl
        member = payer.member(group.subscriber.member_id)
        has_dependents = bool(group.dependents) and member is not None
        w.add("HL", str(sub_hl), "2", "22", "1" if has_dependents else "0")
        _write_traces(w, group.subscriber)
        if not group.dependents:
            _write_patient(w, group.subscriber, member, payer, "IL")
            continue
        _write_subscriber_header(w, group.subscriber, member)
        if member is None:
            continue
        for asked_dep in group.dependents:
            hl += 1
            w.add("HL", str(hl), str(sub_hl), "23", "0")
            _write_traces(w, asked_dep)
            _write_dependent(w, asked_dep, member, payer)


def _write_traces(w: Writer, asked: AskedPatient) -> None:
    for number, originator in asked.traces:
        w.add("TRN", "2", w.clean(number), w.clean(originator))


def _write_name(
    w: Writer, entity: str, last: str | None, first: str | None, mid: str | None
) -> None:
    if mid:
        w.add("NM1", entity, "1", w.clean(last), w.clean(first), "", "", "", "MI", w.clean(mid))
    else:
        w.add("NM1", entity, "1", w.clean(last), w.clean(first))


def _write_subscriber_header(w: Writer, asked: AskedPatient, member: Member | None) -> None:
    """2100C for a subscriber whose dependent is the patient."""
    if member is None:
        _write_name(w, "IL", asked.last_name, asked.first_name, asked.member_id)
        w.add("AAA", "N", "", "75", "C")
        return
    _write_name(w, "IL", member.last_name, member.first_name, member.member_id)
    w.add("DMG", "D8", member.birth_date.strftime("%Y%m%d"), member.gender)


def _write_patient(
    w: Writer, asked: AskedPatient, member: Member | None, payer: PayerBook, entity: str
) -> None:
    if member is None:
        _write_name(w, entity, asked.last_name, asked.first_name, asked.member_id)
        w.add("AAA", "N", "", "75", "C")
        return
    if asked.birth_date is not None and asked.birth_date != member.birth_date:
        _write_name(w, entity, asked.last_name, asked.first_name, asked.member_id)
        w.add("AAA", "N", "", "71", "C")
        return
    _write_name(w, entity, member.last_name, member.first_name, member.member_id)
    w.add("DMG", "D8", member.birth_date.strftime("%Y%m%d"), member.gender)
    plan = payer.plans[member.plan]
    w.add("DTP", "346", "D8", plan.plan_begin.strftime("%Y%m%d"))
    if plan.group_number:
        w.add("REF", "6P", w.clean(plan.group_number))
    _write_benefits(w, asked, member.active, member, plan, payer)


# Limitation: a dependent is found by first name under the subscriber (then the birth date is
# checked), not by a dependent member id.
def _write_dependent(w: Writer, asked: AskedPatient, member: Member, payer: PayerBook) -> None:
    first = (asked.first_name or "").upper()
    dep = next((d for d in member.dependents if d.first_name.upper() == first), None)
    if dep is None:
        _write_name(w, "03", asked.last_name, asked.first_name, None)
        w.add("AAA", "N", "", "67", "C")  # patient not found
        return
    if asked.birth_date is not None and asked.birth_date != dep.birth_date:
        _write_name(w, "03", asked.last_name, asked.first_name, None)
        w.add("AAA", "N", "", "71", "C")
        return
    _write_name(w, "03", dep.last_name, dep.first_name, None)
    w.add("DMG", "D8", dep.birth_date.strftime("%Y%m%d"), dep.gender)
    w.add("INS", "N", dep.relationship)
    plan = payer.plans[member.plan]
    w.add("DTP", "346", "D8", plan.plan_begin.strftime("%Y%m%d"))
    _write_benefits(w, asked, member.active and dep.active, member, plan, payer)


class _Eb:
    """EB segment elements by position (1..13)."""

    def __init__(self, w: Writer) -> None:
        self.w = w

    def row(self, code: str, **pos: str | None) -> None:
        names = [
            "level", "stc", "ins", "plan", "period", "amount", "percent",
            "qty_qualifier", "qty", "auth", "network", "procedure",
        ]  # fmt: skip
        unknown = set(pos) - set(names)
        assert not unknown, unknown
        self.w.add("EB", code, *(pos.get(n) for n in names))


def _write_benefits(
    w: Writer, asked: AskedPatient, active: bool, member: Member, plan: PlanSpec, payer: PayerBook
) -> None:
    eb = _Eb(w)
    plan_name = w.clean(plan.name)
    if not active:
        eb.row("6", level="IND", stc="30", ins=plan.insurance_type, plan=plan_name)
        if member.coverage_end:
            w.add("DTP", "357", "D8", member.coverage_end.strftime("%Y%m%d"))
        w.add("MSG", "COVERAGE IS NOT ACTIVE")
        return
    eb.row("1", level="IND", stc="30", ins=plan.insurance_type, plan=plan_name)
    for message in plan.messages:
        w.add("MSG", w.clean(message)[:264])
    sentinels = payer.habits.sentinels
    _write_accumulators(w, eb, "C", plan.deductible, sentinels)
    _write_accumulators(w, eb, "G", plan.out_of_pocket, sentinels)

    plan_only = payer.habits.plan_level_only
    wanted = set(asked.service_types) - {"30"}
    for spec in plan.benefits:
        if plan_only and spec.service_type != "30":
            continue
        if wanted and spec.service_type not in wanted and spec.service_type != "30":
            continue
        _write_benefit_rows(w, eb, spec.service_type, spec, None, sentinels)

    if payer.habits.procedure_codes == "honour" and not plan_only:
        for proc in asked.procedures:
            proc_spec = plan.procedures.get(proc.code)
            if proc_spec is None:
                continue
            composite = w.composite(proc.qualifier, proc.code, *proc.modifiers)
            _write_benefit_rows(w, eb, proc_spec.service_type, proc_spec, composite, sentinels)

    for other in member.other_payers:
        eb.row("R", stc="30")
        w.add("LS", "2120")
        role = {"primary": "PRP", "secondary": "SEP", "tertiary": "TTP"}[other.role]
        w.add("NM1", role, "2", w.clean(other.name), "", "", "", "", "PI", w.clean(other.id))
        w.add("LE", "2120")


def _write_accumulators(
    w: Writer, eb: _Eb, code: str, accums: NetworkAccumulators | None, sentinels: bool
) -> None:
    if accums is None:
        return
    for network, values in (("Y", accums.in_network), ("N", accums.out_of_network)):
        if values is None:
            continue
        _write_accumulator_pair(eb, code, network, values, sentinels)


def _write_accumulator_pair(
    eb: _Eb, code: str, network: str, values: Accumulators, sentinels: bool
) -> None:
    for level, accum in (("IND", values.individual), ("FAM", values.family)):
        if accum is None:
            if sentinels and level == "FAM":
                eb.row(code, level=level, stc="30", period="23", amount=_amount(SENTINEL),
                       network=network)  # fmt: skip
            continue
        eb.row(code, level=level, stc="30", period="23", amount=_amount(accum.total),
               network=network)  # fmt: skip
        eb.row(code, level=level, stc="30", period="29", amount=_amount(accum.remaining),
               network=network)  # fmt: skip


def _write_benefit_rows(
    w: Writer,
    eb: _Eb,
    stc: str | None,
    spec: BenefitSpec | ProcedureSpec,
    procedure: str | None,
    sentinels: bool,
) -> None:
    auth = "Y" if spec.prior_auth else "N"
    eb.row("1", stc=stc, auth=auth, procedure=procedure)
    if spec.prior_auth:
        w.add("MSG", "PRIOR AUTHORIZATION REQUIRED")
    for message in spec.messages:
        w.add("MSG", w.clean(message)[:264])
    for network, values in (("Y", spec.in_network), ("N", spec.out_of_network)):
        _write_network_rows(eb, stc, network, values, procedure, sentinels)
    if spec.visit_limit is not None:
        eb.row("F", level="IND", stc=stc, period="23", qty_qualifier="VS",
               qty=str(spec.visit_limit), procedure=procedure)  # fmt: skip
        w.add("HSD", "VS", str(spec.visit_limit), "", "", "23", "1")
    if spec.visits_remaining is not None:
        eb.row("F", level="IND", stc=stc, period="29", qty_qualifier="VS",
               qty=str(spec.visits_remaining), procedure=procedure)  # fmt: skip


def _write_network_rows(
    eb: _Eb,
    stc: str | None,
    network: str,
    values: NetworkValues | None,
    procedure: str | None,
    sentinels: bool,
) -> None:
    if values is None:
        if sentinels:
            eb.row("B", level="IND", stc=stc, period="27", amount=_amount(SENTINEL),
                   network=network, procedure=procedure)  # fmt: skip
        return
    if not values.covered:
        eb.row("I", stc=stc, network=network, procedure=procedure)
        return
    if values.copay is not None:
        eb.row("B", level="IND", stc=stc, period="27", amount=_amount(values.copay),
               network=network, procedure=procedure)  # fmt: skip
    elif sentinels:
        eb.row("B", level="IND", stc=stc, period="27", amount=_amount(SENTINEL),
               network=network, procedure=procedure)  # fmt: skip
    if values.coinsurance is not None:
        eb.row("A", level="IND", stc=stc, percent=_percent(values.coinsurance), network=network,
               procedure=procedure)  # fmt: skip


def write_aaa_271(
    asked: Asked270,
    payer_name: str,
    code: str,
    follow_up: str,
    delimiters: Delimiters | None = None,
) -> str:
    """A 271 that only says the payer cannot answer now (AAA 42) or got no answer (AAA 80)."""
    w = Writer(delimiters or Delimiters())
    control, st_index = _open(w, asked, payer_name, datetime.now())
    w.add("HL", "1", "", "20", "0")
    w.add("NM1", "PR", "2", w.clean(payer_name), "", "", "", "", "PI", w.clean(asked.payer_id))
    w.add("AAA", "Y", "", code, follow_up)
    return _close(w, control, st_index)
