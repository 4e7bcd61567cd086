"""Resolve what a patient's 271 says about each requested procedure code.

Payers rarely answer per CPT: most answer per service type, some per procedure (EB13), some only
for the whole plan, and one value may come from each level. So every kind of benefit (copay,
coinsurance, deductible, out-of-pocket, limits, authorization, non-coverage) is resolved on its
own and per network bucket: the rows whose EB13 is this procedure, else the rows for its
crosswalked service types, else the plan-level rows (service type 30 or none). Every value keeps
its source level. See docs/resolution.md for the rules in full.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from cptverify.benefits.estimate import estimate_patient_share
from cptverify.benefits.result import (
    NETWORK_NAMES,
    Accumulator,
    Authorization,
    CoinsuranceEntry,
    CopayEntry,
    LimitEntry,
    NetworkBenefits,
    NetworkName,
    ProcedureResult,
    Source,
    Status,
    format_amount,
)
from cptverify.x12.model import Aaa, Benefit, Patient

Network = Literal["in", "out", "unknown"]
CrosswalkFn = Callable[[str, str, tuple[str, ...]], Iterable[str]]

_NETWORK_OF_EB12: dict[str | None, NetworkName] = {"Y": "in", "N": "out", "W": "both"}
_KIND_OF_EB01 = {
    "B": "copay",
    "A": "coinsurance",
    "C": "deductible",
    "G": "out_of_pocket",
    "F": "limit",
    "I": "not_covered",
    "D": "description",
    "1": "active",
    "2": "active",
    "3": "active",
    "4": "active",
    "5": "active",
}
# The kinds one row speaks for: its EB01 kind, and authorization when it carries EB11.
_KINDS: dict[tuple[str | None, bool], tuple[str, ...]] = {
    (kind, auth): (*((kind,) if kind else ()), *(("authorization",) if auth else ()))
    for kind in (None, *set(_KIND_OF_EB01.values()))
    for auth in (False, True)
}
_BUCKET_FIELD = {
    "copay": "copay",
    "coinsurance": "coinsurance",
    "limit": "limits",
    "authorization": "authorization",
}
_KIND_LABEL = {"deductible": "deductible", "out_of_pocket": "out-of-pocket"}
# EB02 values for one person; every other coverage level (FAM, ESP, ECH, ...) counts as family.
_INDIVIDUAL_LEVELS = frozenset({None, "", "IND", "EMP"})
_TOTAL_PERIODS = ("23", "22", "25", None, "32")
_REMAINING_PERIODS = ("29", "33")
_MET_PERIOD = "24"
_USED_PERIODS = frozenset((*_TOTAL_PERIODS, *_REMAINING_PERIODS, _MET_PERIOD))
_SENTINEL_FLOOR = Decimal("99999")
_SENTINEL_CENTS: tuple[set[str], ...] = (set(), {"9"}, {"0"})


def is_sentinel(amount: Decimal) -> bool:
    """True for payer placeholders meaning "not applicable" (99999.99, 999999, 9999999.99, ...).

    The rule: at least five nines before the decimal point and nothing but nines or zeros after.
    """
    if -_SENTINEL_FLOOR < amount < _SENTINEL_FLOOR:
        return False
    text = format(abs(amount), "f")
    whole, _, cents = text.partition(".")
    return len(whole) >= 5 and set(whole) == {"9"} and set(cents) in _SENTINEL_CENTS


@dataclass(slots=True, frozen=True)
class ProcedureRequest:
    """One procedure to resolve: code, qualifier (HC for CPT/HCPCS, AD for CDT), modifiers,
    the allowed amount for an estimate, and optionally the service types to use instead of the
    crosswalk (when the inquiry named them)."""

    code: str
    qualifier: str = "HC"
    modifiers: tuple[str, ...] = ()
    allowed_amount: Decimal | None = None
    service_types: tuple[str, ...] | None = None


# A prepared row: (position, benefit, kinds it speaks for, its EB01 kind, network bucket).
_Row = tuple[int, Benefit, tuple[str, ...], str | None, NetworkName]


# Per kind, in one network: the level that answered and its rows.
_Selection = tuple[Source, list[Benefit]]
# A built kind: its value for the bucket and the notes building it produced.
_Built = tuple[Any, list[str]]


class _PatientIndex:
    """A patient's rows grouped once: by procedure code, by service type, and plan level. What
    the plan-level rows say is built once per network and shared by every procedure that falls
    back to it, so results of one patient may share parts: treat results as read-only."""

    __slots__ = ("by_code", "by_service_type", "plan", "plan_errors", "_plan_kinds", "_buckets")

    def __init__(self, patient: Patient) -> None:
        self.by_code: dict[str, list[_Row]] = {}
        self.by_service_type: dict[str, list[_Row]] = {}
        self.plan: list[_Row] = []
        self.plan_errors: dict[int, list[Aaa]] = {}
        self._plan_kinds: dict[str, dict[str, _Built]] | None = None
        self._buckets: dict[str, tuple[NetworkBenefits | None, list[str]]] = {}
        kind_of, network_of = _KIND_OF_EB01, _NETWORK_OF_EB12
        for position, benefit in enumerate(patient.benefits):
            kind = kind_of.get(benefit.code)
            kinds = _KINDS[kind, bool(benefit.authorization_required)]
            row: _Row = (
                position,
                benefit,
                kinds,
                kind,
                network_of.get(benefit.in_plan_network, "unspecified"),
            )
            proc = benefit.procedure
            if proc is not None:
                self.by_code.setdefault(proc.code.upper(), []).append(row)
                continue
            sts = benefit.service_types
            if not sts or "30" in sts:
                self.plan.append(row)
                if benefit.errors:
                    self.plan_errors[position] = benefit.errors
            for st in sts:
                if st != "30":
                    self.by_service_type.setdefault(st, []).append(row)

    def plan_kinds(self) -> dict[str, dict[str, _Built]]:
        """Per network, per kind: what the plan-level rows say, built once per patient."""
        if self._plan_kinds is None:
            selected: dict[str, dict[str, list[Benefit]]] = {}
            for _, benefit, kinds, _, row_network in self.plan:
                by_kind = selected.setdefault(row_network, {})
                for kind in kinds:
                    by_kind.setdefault(kind, []).append(benefit)
            built: dict[str, dict[str, _Built]] = {}
            for network, by_kind in selected.items():
                where = _NETWORK_LABEL[network]
                parts = built[network] = {}
                for kind, rows in by_kind.items():
                    kind_notes: list[str] = []
                    parts[kind] = (_BUILDERS[kind](rows, "plan", where, kind_notes), kind_notes)
            self._plan_kinds = built
        return self._plan_kinds

    def plan_bucket(self, network: str, notes: list[str]) -> NetworkBenefits | None:
        """The bucket of a network where only plan-level rows answer, built once per patient."""
        shared = self._buckets.get(network)
        if shared is None:
            bucket_notes: list[str] = []
            parts = self.plan_kinds().get(network)
            bucket = None
            if parts:
                values = {}
                for kind, (value, kind_notes) in parts.items():
                    values[kind] = value
                    bucket_notes.extend(kind_notes)
                bucket = _assemble(values)
            shared = self._buckets[network] = (bucket, bucket_notes)
        if shared[1]:
            notes.extend(shared[1])
        return shared[0]

    def procedure_rows(self, request: ProcedureRequest) -> list[_Row]:
        rows = self.by_code.get(request.code.upper())
        if not rows:
            return []
        qualifier = request.qualifier.upper()
        wanted = set(request.modifiers)
        found = []
        for row in rows:
            proc = row[1].procedure
            if proc is None:
                continue
            if proc.qualifier and proc.qualifier.upper() != qualifier:
                continue
            if proc.modifiers and not set(proc.modifiers) <= wanted:
                continue
            found.append(row)
        return found

    def service_type_rows(self, wanted: Sequence[str]) -> list[_Row]:
        if len(wanted) == 1:
            return self.by_service_type.get(wanted[0], [])
        found: dict[int, _Row] = {}
        for st in wanted:
            for row in self.by_service_type.get(st, ()):
                found[row[0]] = row
        return [found[k] for k in sorted(found)]


def _places(benefit: Benefit) -> Sequence[str]:
    if not benefit.places_of_service:
        return ()
    return [p.code for p in benefit.places_of_service if p.code]


_NETWORK_LABEL = {
    "in": "in network",
    "out": "out of network",
    "both": "in any network",
    "unspecified": "with no network stated",
}


def _network_label(network: str) -> str:
    return _NETWORK_LABEL[network]


# Limitation: when a payer sends two different values for one slot (say two calendar-year
# totals told apart only by a MSG), the first is shown and the others are only named in a note.
def _pick(
    by_period: dict[str | None, list[Decimal]],
    periods: Sequence[str | None],
    label: str,
    what: str,
    notes: list[str],
) -> tuple[Decimal | None, str | None]:
    """The first value sent for the first of `periods` the payer used (noting disagreements)."""
    for period in periods:
        values = by_period.get(period)
        if values:
            if len(values) > 1 and len(set(values)) > 1:
                shown = ", ".join(format_amount(v) or "" for v in values)
                notes.append(
                    f"{label} {what}: the payer sent several values ({shown}); the first is shown"
                )
            return values[0], period
    return None, None


def _accumulator(
    rows: list[Benefit], source: Source, label: str, notes: list[str]
) -> Accumulator | None:
    """Total, remaining and met for one coverage level, each from its own row; sentinels dropped."""
    by_period: dict[str | None, list[Decimal]] = {}
    for row in rows:
        if row.amount is not None:
            by_period.setdefault(row.time_period, []).append(row.amount)
    if not by_period:
        return None

    total, total_period = _pick(by_period, _TOTAL_PERIODS, label, "total", notes)
    remaining_order = ("33", "29") if total_period == "32" else _REMAINING_PERIODS
    remaining, remaining_period = _pick(by_period, remaining_order, label, "remaining", notes)
    met, _ = _pick(by_period, (_MET_PERIOD,), label, "met", notes)

    total_is_sentinel = total is not None and is_sentinel(total)
    if total_is_sentinel:
        notes.append(
            f"{label} {format_amount(total)} is a payer placeholder meaning "
            "not applicable and was dropped"
        )
        total, total_period = None, None
    if remaining is not None and (total_is_sentinel or is_sentinel(remaining)):
        why = (
            "was computed against a placeholder total"
            if total_is_sentinel
            else "is a payer placeholder meaning not applicable"
        )
        notes.append(f"{label} remaining {format_amount(remaining)} {why} and was dropped")
        remaining, remaining_period = None, None
    if met is not None and is_sentinel(met):
        notes.append(f"{label} met {format_amount(met)} is a payer placeholder and was dropped")
        met = None

    for period in by_period:
        if period not in _USED_PERIODS:
            notes.append(
                f"{label} with time period {period} is not a total, remaining or met "
                "amount and was not used"
            )
    if total is None and remaining is None and met is None:
        return None
    return Accumulator(
        total=total,
        remaining=remaining,
        met=met,
        source=source,
        total_period=total_period,
        remaining_period=remaining_period,
    )


def _copays(rows: list[Benefit], source: Source, where: str, notes: list[str]) -> list[CopayEntry]:
    copays = []
    for row in rows:
        amount = row.amount
        if amount is not None and amount >= _SENTINEL_FLOOR and is_sentinel(amount):
            notes.append(
                f"copay {format_amount(amount)} {where} is a payer placeholder "
                "meaning not applicable and was dropped"
            )
            continue
        copays.append(
            CopayEntry(
                amount,
                row.time_period,
                row.coverage_level,
                source,
                row.messages,
                _places(row),
                row.delivery,
            )
        )
    return copays


def _coinsurances(
    rows: list[Benefit], source: Source, where: str, notes: list[str]
) -> list[CoinsuranceEntry]:
    return [
        CoinsuranceEntry(
            row.percent,
            row.time_period,
            row.coverage_level,
            source,
            row.messages,
            _places(row),
            row.delivery,
        )
        for row in rows
    ]


def _limits(rows: list[Benefit], source: Source, where: str, notes: list[str]) -> list[LimitEntry]:
    limits = []
    for row in rows:
        amount = row.amount
        if amount is not None and is_sentinel(amount):
            notes.append(
                f"limit {format_amount(amount)} {where} is a payer placeholder "
                "meaning not applicable and was dropped"
            )
            amount = None
        limits.append(
            LimitEntry(
                amount=amount,
                percent=row.percent,
                quantity_qualifier=row.quantity_qualifier,
                quantity=row.quantity,
                time_period=row.time_period,
                coverage_level=row.coverage_level,
                source=source,
                authorization_required=row.authorization_required,
                messages=row.messages,
                places_of_service=_places(row),
                delivery=row.delivery,
            )
        )
    return limits


def _accumulators(
    name: str,
) -> Callable[[list[Benefit], Source, str, list[str]], tuple[Accumulator | None, ...]]:
    def build(
        rows: list[Benefit], source: Source, where: str, notes: list[str]
    ) -> tuple[Accumulator | None, ...]:
        individual = [r for r in rows if r.coverage_level in _INDIVIDUAL_LEVELS]
        family = [r for r in rows if r.coverage_level not in _INDIVIDUAL_LEVELS]
        return (
            _accumulator(individual, source, f"individual {name} {where}", notes)
            if individual
            else None,
            _accumulator(family, source, f"family {name} {where}", notes) if family else None,
        )

    return build


def _authorization(
    rows: list[Benefit], source: Source, where: str, notes: list[str]
) -> Authorization:
    flags = {r.authorization_required for r in rows}
    required = "Y" if "Y" in flags else "U" if "U" in flags else "N"
    messages = [m for r in rows if r.authorization_required == required for m in r.messages]
    return Authorization(required=required, source=source, messages=messages)


def _messages(rows: list[Benefit], source: Source, where: str, notes: list[str]) -> list[str]:
    messages: list[str] = []
    for row in rows:
        for message in row.messages:
            if message not in messages:
                messages.append(message)
    return messages


_BUILDERS: dict[str, Callable[[list[Benefit], Source, str, list[str]], Any]] = {
    "copay": _copays,
    "coinsurance": _coinsurances,
    "limit": _limits,
    "deductible": _accumulators("deductible"),
    "out_of_pocket": _accumulators("out-of-pocket"),
    "authorization": _authorization,
    "active": _messages,
    "description": _messages,
    "not_covered": _messages,
}
_NO_ACCUMULATORS: tuple[None, None] = (None, None)


def _assemble(values: dict[str, Any]) -> NetworkBenefits | None:
    """A network bucket from the built value of each kind; None when it holds nothing."""
    deductible = values.get("deductible", _NO_ACCUMULATORS)
    out_of_pocket = values.get("out_of_pocket", _NO_ACCUMULATORS)
    messages: list[str] = []
    for kind in ("active", "description", "not_covered"):
        for message in values.get(kind, ()):
            if message not in messages:
                messages.append(message)
    bucket = NetworkBenefits(
        values.get("copay") or [],
        values.get("coinsurance") or [],
        deductible[0],
        deductible[1],
        out_of_pocket[0],
        out_of_pocket[1],
        values.get("limit") or [],
        values.get("authorization"),
        messages,
    )
    return None if bucket.is_empty() else bucket


def _coverage_status(
    patient: Patient,
    rejections: list[Aaa],
    coverage_rows: dict[Source, list[_Row]],
    notes: list[str],
) -> Status:
    if not rejections and not coverage_rows and patient.coverage_status == "active":
        return "covered"
    if rejections or patient.coverage_status == "rejected":
        return "rejected"
    if patient.coverage_status == "inactive":
        return "inactive"
    # Limitation: an EB I at plan level (service type 30) does not make a procedure not_covered.
    levels: tuple[Source, ...] = ("procedure", "service_type")
    for level in levels:
        rows = coverage_rows.get(level)
        if not rows:
            continue
        refused = [r for r in rows if r[3] == "not_covered"]
        if refused and len(refused) == len(rows):
            return "not_covered"
        for row in refused:
            notes.append(
                f"not covered {_network_label(row[4])} (per the {level.replace('_', ' ')} row)"
            )
        break
    if patient.coverage_status == "active":
        return "covered"
    notes.append("the payer's coverage status for this patient is unclear")
    return "unknown"


def _resolve_one(
    patient: Patient,
    index: _PatientIndex,
    request: ProcedureRequest,
    service_types: list[str],
    network: Network,
    payer_calls: int,
    transaction_rejections: list[Aaa],
) -> ProcedureResult:
    # Service type 30 is the plan itself: rows for it are plan-level rows.
    wanted = [st for st in service_types if st != "30"]
    notes: list[str] = []
    if not wanted:
        notes.append(
            "no specific service type is known for this code; only procedure-level and "
            "plan-level rows were used"
        )

    # Per network and kind: the rows at the most specific level that has any; the plan-level
    # rows answer for whatever the procedure and its service types did not.
    chosen: dict[str, dict[str, _Selection]] = {}
    coverage_rows: dict[Source, list[_Row]] = {}
    errors_at: dict[int, list[Aaa]] = {}
    match: Source | None = None
    levels: tuple[tuple[Source, list[_Row]], ...] = (
        ("procedure", index.procedure_rows(request)),
        ("service_type", index.service_type_rows(wanted) if wanted else []),
    )
    for level, rows in levels:
        for row in rows:
            position, benefit, kinds, kind, net = row
            if benefit.errors:
                errors_at[position] = benefit.errors
            if kind == "active" or kind == "not_covered":
                coverage_rows.setdefault(level, []).append(row)
            if not kinds:
                continue
            by_kind = chosen.get(net)
            if by_kind is None:
                by_kind = chosen[net] = {}
            for each in kinds:
                current = by_kind.get(each)
                if current is None:
                    by_kind[each] = (level, [benefit])
                    if match is None:
                        match = level
                elif current[0] == level:
                    current[1].append(benefit)
    plan = index.plan_kinds()
    if match is None and plan:
        match = "plan"
    row_errors: list[Aaa] = []
    if errors_at or index.plan_errors:
        errors_at.update(index.plan_errors)
        for position in sorted(errors_at):
            row_errors.extend(errors_at[position])

    rejections = [*transaction_rejections, *patient.errors, *row_errors]
    status = _coverage_status(patient, rejections, coverage_rows, notes)

    networks: dict[str, NetworkBenefits | None] = {}
    for name in NETWORK_NAMES:
        specific = chosen.get(name)
        if specific is None:
            networks[name] = index.plan_bucket(name, notes) if name in plan else None
            continue
        values: dict[str, Any] = {}
        plan_parts = plan.get(name)
        if plan_parts:
            for kind, (value, kind_notes) in plan_parts.items():
                if kind not in specific:
                    values[kind] = value
                    if kind_notes:
                        notes.extend(kind_notes)
        where = _NETWORK_LABEL[name]
        for kind, (level, benefits) in specific.items():
            values[kind] = _BUILDERS[kind](benefits, level, where, notes)
        networks[name] = _assemble(values)

    result = ProcedureResult(
        request.code,
        request.qualifier,
        list(request.modifiers),
        status,
        match,
        service_types,
        payer_calls,
        networks,
        rejections,
        None,
        notes,
    )
    if request.allowed_amount is not None:
        result.estimate = estimate_patient_share(result, request.allowed_amount, network)
    return result


@lru_cache(maxsize=4096)
def _default_crosswalk(code: str, qualifier: str, modifiers: tuple[str, ...]) -> tuple[str, ...]:
    """The shared crosswalk, remembered per code: a schedule asks for the same codes again."""
    from cptverify.benefits.crosswalk import service_types_for

    return tuple(service_types_for(code, qualifier, modifiers))


def resolve_procedures(
    patient: Patient,
    requests: Sequence[ProcedureRequest],
    *,
    network: Network = "unknown",
    payer_calls: int = 1,
    rejections_from_transaction: list[Aaa] | None = None,
    crosswalk: CrosswalkFn | None = None,
) -> list[ProcedureResult]:
    """One result per requested procedure for a patient read from a 271.

    `network` is the provider's network for the estimate; `payer_calls` how many 270/271
    exchanges the inquiry took; `rejections_from_transaction` the AAA of loops 2000A, 2100A and
    2100B (the transaction's `errors`), which apply to every patient in it. `crosswalk` maps a
    code to service types (default: `cptverify.benefits.crosswalk.service_types_for`).
    """
    if crosswalk is None:
        crosswalk = _default_crosswalk
    # Results hold no reference cycles, so the cycle collector has nothing to find while the
    # small objects of a result are built; without the pause it re-walks the freshly read
    # interchange over and over (the same reasoning as in `read_271`).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _resolve_all(
            patient, requests, network, payer_calls, rejections_from_transaction, crosswalk
        )
    finally:
        if collecting:
            gc.enable()


def _resolve_all(
    patient: Patient,
    requests: Sequence[ProcedureRequest],
    network: Network,
    payer_calls: int,
    rejections_from_transaction: list[Aaa] | None,
    crosswalk: CrosswalkFn,
) -> list[ProcedureResult]:
    index = _PatientIndex(patient)
    transaction_rejections = list(rejections_from_transaction or [])
    results = []
    for request in requests:
        if request.service_types is not None:
            service_types = list(request.service_types)
        else:
            service_types = list(
                crosswalk(request.code, request.qualifier, tuple(request.modifiers))
            )
        results.append(
            _resolve_one(
                patient,
                index,
                request,
                service_types,
                network,
                payer_calls,
                transaction_rejections,
            )
        )
    return results


__all__ = ["ProcedureRequest", "is_sentinel", "resolve_procedures"]
