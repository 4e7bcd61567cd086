"""Resolve what a patient's 271 says about each requested procedure code.

Payers rarely answer per CPT: most answer per service type, some per procedure (EB13), some only
for the whole plan, and one value may come from each level. So every kind of benefit (copay,
coinsurance, deductible, out-of-pocket, limits, authorization, non-coverage) is resolved on its
own and per network bucket: the rows whose EB13 is this procedure, else the rows for its
crosswalked service types, else the plan-level rows (service type 30 or none). Every value keeps
its source level. See docs/resolution.md for the rules in full.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from cptverify.benefits.estimate import estimate_patient_share
from cptverify.benefits.result import (
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

_LEVEL_RANK = {"procedure": 0, "service_type": 1, "plan": 2}
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
_KIND_LABEL = {"deductible": "deductible", "out_of_pocket": "out-of-pocket"}
# EB02 values for one person; every other coverage level (FAM, ESP, ECH, ...) counts as family.
_INDIVIDUAL_LEVELS = frozenset({None, "", "IND", "EMP"})
_TOTAL_PERIODS = ("23", "22", "25", None, "32")
_REMAINING_PERIODS = ("29", "33")
_MET_PERIOD = "24"
_SENTINEL_FLOOR = Decimal("99999")


def is_sentinel(amount: Decimal) -> bool:
    """True for payer placeholders meaning "not applicable" (99999.99, 999999, 9999999.99, ...).

    The rule: at least five nines before the decimal point and nothing but nines or zeros after.
    """
    if -_SENTINEL_FLOOR < amount < _SENTINEL_FLOOR:
        return False
    text = format(abs(amount), "f")
    whole, _, cents = text.partition(".")
    return len(whole) >= 5 and set(whole) == {"9"} and (not cents or len(set(cents)) == 1)


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


@dataclass(slots=True)
class _Row:
    benefit: Benefit
    kind: str | None
    network: NetworkName
    service_types: frozenset[str]
    plan_level: bool


@dataclass(slots=True)
class _Selection:
    """The rows of one kind in one network bucket, at the most specific level that had any."""

    source: Source
    rows: list[Benefit] = field(default_factory=list)


def _prepare(patient: Patient) -> list[_Row]:
    rows = []
    for benefit in patient.benefits:
        sts = frozenset(benefit.service_types)
        rows.append(
            _Row(
                benefit=benefit,
                kind=_KIND_OF_EB01.get(benefit.code.upper()),
                network=_NETWORK_OF_EB12.get(benefit.in_plan_network, "unspecified"),
                service_types=sts,
                plan_level=benefit.procedure is None and (not sts or "30" in sts),
            )
        )
    return rows


def _level(row: _Row, request: ProcedureRequest, wanted: frozenset[str]) -> Source | None:
    """The level at which a row applies to this procedure, or None when it does not apply."""
    proc = row.benefit.procedure
    if proc is not None:
        if proc.code.upper() != request.code.upper():
            return None
        if proc.qualifier and proc.qualifier.upper() != request.qualifier.upper():
            return None
        if proc.modifiers and not set(proc.modifiers) <= set(request.modifiers):
            return None
        return "procedure"
    if row.service_types & wanted:
        return "service_type"
    if row.plan_level:
        return "plan"
    return None


def _places(benefit: Benefit) -> list[str]:
    return [p.code for p in benefit.places_of_service if p.code]


def _network_label(network: str) -> str:
    return {
        "in": "in network",
        "out": "out of network",
        "both": "in any network",
        "unspecified": "with no network stated",
    }[network]


def _accumulator(
    rows: list[Benefit], source: Source, label: str, notes: list[str]
) -> Accumulator | None:
    """Total, remaining and met for one coverage level, each from its own row; sentinels dropped."""
    by_period: dict[str | None, list[Decimal]] = {}
    for row in rows:
        if row.amount is None:
            continue
        by_period.setdefault(row.time_period, []).append(row.amount)
    if not by_period:
        return None

    def pick(periods: Sequence[str | None], what: str) -> tuple[Decimal | None, str | None]:
        for period in periods:
            values = by_period.get(period)
            if values:
                if len(set(values)) > 1:
                    shown = ", ".join(format_amount(v) or "" for v in values)
                    notes.append(
                        f"{label} {what}: the payer sent several values ({shown}); "
                        "the first is shown"
                    )
                return values[0], period
        return None, None

    acc = Accumulator(source=source)
    total, acc.total_period = pick(_TOTAL_PERIODS, "total")
    remaining_order = ("33", "29") if acc.total_period == "32" else _REMAINING_PERIODS
    remaining, acc.remaining_period = pick(remaining_order, "remaining")
    met, _ = pick((_MET_PERIOD,), "met")

    total_is_sentinel = total is not None and is_sentinel(total)
    if total is not None and total_is_sentinel:
        notes.append(
            f"{label} {format_amount(total)} is a payer placeholder meaning "
            "not applicable and was dropped"
        )
        total, acc.total_period = None, None
    if remaining is not None and (total_is_sentinel or is_sentinel(remaining)):
        why = (
            "was computed against a placeholder total"
            if total_is_sentinel
            else ("is a payer placeholder meaning not applicable")
        )
        notes.append(f"{label} remaining {format_amount(remaining)} {why} and was dropped")
        remaining, acc.remaining_period = None, None
    if met is not None and is_sentinel(met):
        notes.append(f"{label} met {format_amount(met)} is a payer placeholder and was dropped")
        met = None

    for period in by_period:
        if (
            period not in _TOTAL_PERIODS
            and period not in _REMAINING_PERIODS
            and (period != _MET_PERIOD)
        ):
            notes.append(
                f"{label} with time period {period} is not a total, remaining or met "
                "amount and was not used"
            )
    acc.total, acc.remaining, acc.met = total, remaining, met
    if total is None and remaining is None and met is None:
        return None
    return acc


def _fill_bucket(
    bucket: NetworkBenefits,
    network: NetworkName,
    selections: dict[str, _Selection],
    notes: list[str],
) -> None:
    where = _network_label(network)
    copay = selections.get("copay")
    if copay:
        for row in copay.rows:
            if row.amount is not None and is_sentinel(row.amount):
                notes.append(
                    f"copay {format_amount(row.amount)} {where} is a payer placeholder "
                    "meaning not applicable and was dropped"
                )
                continue
            bucket.copay.append(
                CopayEntry(
                    amount=row.amount,
                    time_period=row.time_period,
                    coverage_level=row.coverage_level,
                    source=copay.source,
                    messages=list(row.messages),
                    places_of_service=_places(row),
                    delivery=list(row.delivery),
                )
            )
    coins = selections.get("coinsurance")
    if coins:
        for row in coins.rows:
            bucket.coinsurance.append(
                CoinsuranceEntry(
                    percent=row.percent,
                    time_period=row.time_period,
                    coverage_level=row.coverage_level,
                    source=coins.source,
                    messages=list(row.messages),
                    places_of_service=_places(row),
                    delivery=list(row.delivery),
                )
            )
    for kind in ("deductible", "out_of_pocket"):
        sel = selections.get(kind)
        if not sel:
            continue
        individual = [r for r in sel.rows if r.coverage_level in _INDIVIDUAL_LEVELS]
        family = [r for r in sel.rows if r.coverage_level not in _INDIVIDUAL_LEVELS]
        name = _KIND_LABEL[kind]
        ind = _accumulator(individual, sel.source, f"individual {name} {where}", notes)
        fam = _accumulator(family, sel.source, f"family {name} {where}", notes)
        if kind == "deductible":
            bucket.deductible_individual, bucket.deductible_family = ind, fam
        else:
            bucket.out_of_pocket_individual, bucket.out_of_pocket_family = ind, fam
    limits = selections.get("limit")
    if limits:
        for row in limits.rows:
            amount = row.amount
            if amount is not None and is_sentinel(amount):
                notes.append(
                    f"limit {format_amount(amount)} {where} is a payer placeholder "
                    "meaning not applicable and was dropped"
                )
                amount = None
            bucket.limits.append(
                LimitEntry(
                    amount=amount,
                    percent=row.percent,
                    quantity_qualifier=row.quantity_qualifier,
                    quantity=row.quantity,
                    time_period=row.time_period,
                    coverage_level=row.coverage_level,
                    source=limits.source,
                    authorization_required=row.authorization_required,
                    messages=list(row.messages),
                    places_of_service=_places(row),
                    delivery=list(row.delivery),
                )
            )
    auth = selections.get("authorization")
    if auth:
        flags = {r.authorization_required for r in auth.rows}
        required = "Y" if "Y" in flags else "U" if "U" in flags else "N"
        messages = [
            m for r in auth.rows if r.authorization_required == required for m in r.messages
        ]
        bucket.authorization = Authorization(
            required=required, source=auth.source, messages=messages
        )
    for kind in ("active", "description", "not_covered"):
        sel = selections.get(kind)
        if sel:
            for row in sel.rows:
                for message in row.messages:
                    if message not in bucket.messages:
                        bucket.messages.append(message)


def _coverage_status(
    patient: Patient,
    rejections: list[Aaa],
    coverage_rows: dict[Source, list[_Row]],
    notes: list[str],
) -> Status:
    if rejections or patient.coverage_status == "rejected":
        return "rejected"
    if patient.coverage_status == "inactive":
        return "inactive"
    levels: tuple[Source, ...] = ("procedure", "service_type")
    for level in levels:
        rows = coverage_rows.get(level)
        if not rows:
            continue
        refused = [r for r in rows if r.kind == "not_covered"]
        if refused and len(refused) == len(rows):
            return "not_covered"
        for row in refused:
            notes.append(
                f"not covered {_network_label(row.network)} (per the {level.replace('_', ' ')} row)"
            )
        break
    if patient.coverage_status == "active":
        return "covered"
    notes.append("the payer's coverage status for this patient is unclear")
    return "unknown"


def _resolve_one(
    patient: Patient,
    rows: list[_Row],
    request: ProcedureRequest,
    service_types: list[str],
    network: Network,
    payer_calls: int,
    transaction_rejections: list[Aaa],
) -> ProcedureResult:
    # Service type 30 is the plan itself: rows for it are plan-level rows.
    wanted = frozenset(service_types) - {"30"}
    notes: list[str] = []
    if not wanted:
        notes.append(
            "no specific service type is known for this code; only procedure-level and "
            "plan-level rows were used"
        )

    # Per (kind, network): the rows at the most specific level that has any.
    chosen: dict[tuple[str, str], _Selection] = {}
    coverage_rows: dict[Source, list[_Row]] = {}
    row_errors: list[Aaa] = []
    for row in rows:
        level = _level(row, request, wanted)
        if level is None:
            continue
        benefit = row.benefit
        row_errors.extend(benefit.errors)
        kinds = [row.kind] if row.kind else []
        if benefit.authorization_required:
            kinds.append("authorization")
        if row.kind in ("active", "not_covered"):
            coverage_rows.setdefault(level, []).append(row)
        for kind in kinds:
            key = (kind, row.network)
            current = chosen.get(key)
            if current is None or _LEVEL_RANK[level] < _LEVEL_RANK[current.source]:
                chosen[key] = _Selection(source=level, rows=[benefit])
            elif current.source == level:
                current.rows.append(benefit)

    rejections = [*transaction_rejections, *patient.errors, *row_errors]
    status = _coverage_status(patient, rejections, coverage_rows, notes)

    networks: dict[str, NetworkBenefits | None] = {}
    for name in ("in", "out", "both", "unspecified"):
        selections = {kind: sel for (kind, net), sel in chosen.items() if net == name}
        if not selections:
            networks[name] = None
            continue
        bucket = NetworkBenefits()
        _fill_bucket(bucket, name, selections, notes)
        networks[name] = None if bucket.is_empty() else bucket

    match: Source | None = None
    if chosen:
        best = min(_LEVEL_RANK[s.source] for s in chosen.values())
        match = next(s.source for s in chosen.values() if _LEVEL_RANK[s.source] == best)

    result = ProcedureResult(
        code=request.code,
        qualifier=request.qualifier,
        modifiers=list(request.modifiers),
        status=status,
        match=match,
        service_types=list(service_types),
        payer_calls=payer_calls,
        networks=networks,
        rejections=rejections,
        notes=notes,
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
    rows = _prepare(patient)
    transaction_rejections = list(rejections_from_transaction or [])
    results = []
    for request in requests:
        if request.service_types is not None:
            service_types = list(request.service_types)
        else:
            service_types = list(crosswalk(request.code, request.qualifier, request.modifiers))
        results.append(
            _resolve_one(
                patient,
                rows,
                request,
                service_types,
                network,
                payer_calls,
                transaction_rejections,
            )
        )
    return results


__all__ = ["ProcedureRequest", "is_sentinel", "resolve_procedures"]
