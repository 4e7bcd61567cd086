"""One answer per requested procedure, and its JSON shape.

The same dictionary is returned by `cptverify parse --json`, the API, the stored items and the
reports, so it is built in one place (`procedure_result_to_dict`) and read back in one place
(`procedure_result_from_dict`). Amounts are strings with two decimals (`"10.00"`), percents are
decimal-fraction strings as the payer sent them (`"0.2"` is 20%), and a value the payer did not
send is null, never zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from cptverify.x12.json_view import aaa_to_dict, amount_str, number_str
from cptverify.x12.model import Aaa, Delivery

Source = Literal["procedure", "service_type", "plan"]
Status = Literal["covered", "not_covered", "inactive", "rejected", "unknown"]
NetworkName = Literal["in", "out", "both", "unspecified"]
NETWORK_NAMES: tuple[NetworkName, ...] = ("in", "out", "both", "unspecified")

_CENT = Decimal("0.01")


class CopayEntry(NamedTuple):
    """One copay row (EB01 B) with every qualifier that tells it apart from its neighbours."""

    amount: Decimal | None
    time_period: str | None
    coverage_level: str | None
    source: Source
    messages: Sequence[str] = ()
    places_of_service: Sequence[str] = ()
    delivery: Sequence[Delivery] = ()


class CoinsuranceEntry(NamedTuple):
    """One coinsurance row (EB01 A); `percent` is a fraction (0.2 is 20%)."""

    percent: Decimal | None
    time_period: str | None
    coverage_level: str | None
    source: Source
    messages: Sequence[str] = ()
    places_of_service: Sequence[str] = ()
    delivery: Sequence[Delivery] = ()


class Accumulator(NamedTuple):
    """A deductible or out-of-pocket figure for one coverage level: total, remaining, met.

    Each comes from its own EB row (never one derived from another); the EB06 period of the
    total and of the remaining amount is kept so calendar-year and lifetime values are not mixed.
    """

    total: Decimal | None = None
    remaining: Decimal | None = None
    met: Decimal | None = None
    source: Source | None = None
    total_period: str | None = None
    remaining_period: str | None = None


class LimitEntry(NamedTuple):
    """One limitation row (EB01 F): an amount, a quantity (EB09/EB10) and delivery limits (HSD)."""

    amount: Decimal | None
    percent: Decimal | None
    quantity_qualifier: str | None
    quantity: Decimal | None
    time_period: str | None
    coverage_level: str | None
    source: Source
    authorization_required: str | None = None
    messages: Sequence[str] = ()
    places_of_service: Sequence[str] = ()
    delivery: Sequence[Delivery] = ()


class Authorization(NamedTuple):
    """EB11 for this procedure: `Y` required, `N` not required, `U` the payer cannot tell."""

    required: str
    source: Source
    messages: Sequence[str] = ()


class NetworkBenefits(NamedTuple):
    """Everything that applies to a procedure in one network bucket (in, out, both, unspecified).

    Immutable: one bucket (the plan-level one, say) is shared by every result of a patient that
    falls back to it.
    """

    copay: tuple[CopayEntry, ...] = ()
    coinsurance: tuple[CoinsuranceEntry, ...] = ()
    deductible_individual: Accumulator | None = None
    deductible_family: Accumulator | None = None
    out_of_pocket_individual: Accumulator | None = None
    out_of_pocket_family: Accumulator | None = None
    limits: tuple[LimitEntry, ...] = ()
    authorization: Authorization | None = None
    messages: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not any(self)


@dataclass(slots=True)
class Estimate:
    """The expected patient share for an allowed amount, with every assumption in plain words.

    `patient_pays` and `plan_pays` are None when a needed value is unknown; `missing` names it.
    """

    allowed_amount: Decimal
    network: str
    patient_pays: Decimal | None
    plan_pays: Decimal | None
    assumptions: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ProcedureResult:
    """The answer for one requested procedure code: what was decided, not yet formatted.

    Results of one patient share their immutable parts (network buckets, entries, rejections,
    notes), so a result is read-only once `resolve_procedures` has returned it.
    """

    code: str
    qualifier: str
    modifiers: list[str]
    status: Status
    match: Source | None
    service_types: list[str]
    payer_calls: int
    networks: dict[str, NetworkBenefits | None]
    rejections: tuple[Aaa, ...] = ()
    estimate: Estimate | None = None
    notes: tuple[str, ...] = ()


# The 271 JSON view's formatting, so a figure reads the same in `benefits` and in `procedures`.
format_amount = amount_str
format_percent = number_str


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _aaa_from_dict(data: dict[str, Any]) -> Aaa:
    return Aaa(
        loop=data["loop"],
        valid_request=data.get("valid_request"),
        code=data.get("code"),
        follow_up=data.get("follow_up"),
        description=data.get("description", ""),
        retryable=data.get("retryable"),
        segment=data.get("segment"),
    )


def _delivery_to_dict(item: Delivery) -> dict[str, Any]:
    return {
        "quantity_qualifier": item.quantity_qualifier,
        "quantity": format_percent(item.quantity),
        "unit": item.unit,
        "time_period": item.time_period,
        "periods": format_percent(item.periods),
        "frequency": item.frequency,
        "pattern": item.pattern,
    }


def _delivery_from_dict(data: dict[str, Any]) -> Delivery:
    return Delivery(
        quantity_qualifier=data.get("quantity_qualifier"),
        quantity=_decimal(data.get("quantity")),
        unit=data.get("unit"),
        time_period=data.get("time_period"),
        periods=_decimal(data.get("periods")),
        frequency=data.get("frequency"),
        pattern=data.get("pattern"),
    )


def _qualifiers(entry: CopayEntry | CoinsuranceEntry | LimitEntry) -> dict[str, Any]:
    return {
        "messages": list(entry.messages),
        "places_of_service": list(entry.places_of_service),
        "delivery": [_delivery_to_dict(d) for d in entry.delivery],
    }


def _accumulator_to_dict(acc: Accumulator | None) -> dict[str, Any] | None:
    if acc is None:
        return None
    return {
        "total": format_amount(acc.total),
        "remaining": format_amount(acc.remaining),
        "met": format_amount(acc.met),
        "source": acc.source,
        "total_period": acc.total_period,
        "remaining_period": acc.remaining_period,
    }


def _accumulator_from_dict(data: dict[str, Any] | None) -> Accumulator | None:
    if data is None:
        return None
    return Accumulator(
        total=_decimal(data.get("total")),
        remaining=_decimal(data.get("remaining")),
        met=_decimal(data.get("met")),
        source=data.get("source"),
        total_period=data.get("total_period"),
        remaining_period=data.get("remaining_period"),
    )


def _network_to_dict(bucket: NetworkBenefits | None) -> dict[str, Any] | None:
    if bucket is None:
        return None
    auth = bucket.authorization
    return {
        "copay": [
            {
                "amount": format_amount(c.amount),
                "time_period": c.time_period,
                "coverage_level": c.coverage_level,
                "source": c.source,
                **_qualifiers(c),
            }
            for c in bucket.copay
        ],
        "coinsurance": [
            {
                "percent": format_percent(c.percent),
                "time_period": c.time_period,
                "coverage_level": c.coverage_level,
                "source": c.source,
                **_qualifiers(c),
            }
            for c in bucket.coinsurance
        ],
        "deductible": {
            "individual": _accumulator_to_dict(bucket.deductible_individual),
            "family": _accumulator_to_dict(bucket.deductible_family),
        },
        "out_of_pocket": {
            "individual": _accumulator_to_dict(bucket.out_of_pocket_individual),
            "family": _accumulator_to_dict(bucket.out_of_pocket_family),
        },
        "limits": [
            {
                "amount": format_amount(lim.amount),
                "percent": format_percent(lim.percent),
                "quantity_qualifier": lim.quantity_qualifier,
                "quantity": format_percent(lim.quantity),
                "time_period": lim.time_period,
                "coverage_level": lim.coverage_level,
                "source": lim.source,
                "authorization_required": lim.authorization_required,
                **_qualifiers(lim),
            }
            for lim in bucket.limits
        ],
        "authorization_required": None
        if auth is None
        else {"required": auth.required, "source": auth.source, "messages": list(auth.messages)},
        "messages": list(bucket.messages),
    }


def _network_from_dict(data: dict[str, Any] | None) -> NetworkBenefits | None:
    if data is None:
        return None
    auth = data.get("authorization_required")
    return NetworkBenefits(
        copay=tuple(
            CopayEntry(
                amount=_decimal(c.get("amount")),
                time_period=c.get("time_period"),
                coverage_level=c.get("coverage_level"),
                source=c["source"],
                messages=tuple(c.get("messages", [])),
                places_of_service=tuple(c.get("places_of_service", [])),
                delivery=tuple(_delivery_from_dict(d) for d in c.get("delivery", [])),
            )
            for c in data.get("copay", [])
        ),
        coinsurance=tuple(
            CoinsuranceEntry(
                percent=_decimal(c.get("percent")),
                time_period=c.get("time_period"),
                coverage_level=c.get("coverage_level"),
                source=c["source"],
                messages=tuple(c.get("messages", [])),
                places_of_service=tuple(c.get("places_of_service", [])),
                delivery=tuple(_delivery_from_dict(d) for d in c.get("delivery", [])),
            )
            for c in data.get("coinsurance", [])
        ),
        deductible_individual=_accumulator_from_dict(data["deductible"]["individual"]),
        deductible_family=_accumulator_from_dict(data["deductible"]["family"]),
        out_of_pocket_individual=_accumulator_from_dict(data["out_of_pocket"]["individual"]),
        out_of_pocket_family=_accumulator_from_dict(data["out_of_pocket"]["family"]),
        limits=tuple(
            LimitEntry(
                amount=_decimal(lim.get("amount")),
                percent=_decimal(lim.get("percent")),
                quantity_qualifier=lim.get("quantity_qualifier"),
                quantity=_decimal(lim.get("quantity")),
                time_period=lim.get("time_period"),
                coverage_level=lim.get("coverage_level"),
                source=lim["source"],
                authorization_required=lim.get("authorization_required"),
                messages=tuple(lim.get("messages", [])),
                places_of_service=tuple(lim.get("places_of_service", [])),
                delivery=tuple(_delivery_from_dict(d) for d in lim.get("delivery", [])),
            )
            for lim in data.get("limits", [])
        ),
        authorization=None
        if auth is None
        else Authorization(
            required=auth["required"], source=auth["source"], messages=tuple(auth["messages"])
        ),
        messages=tuple(data.get("messages", [])),
    )


def estimate_to_dict(estimate: Estimate | None) -> dict[str, Any] | None:
    if estimate is None:
        return None
    return {
        "allowed_amount": format_amount(estimate.allowed_amount),
        "network": estimate.network,
        "patient_pays": format_amount(estimate.patient_pays),
        "plan_pays": format_amount(estimate.plan_pays),
        "assumptions": list(estimate.assumptions),
        "missing": list(estimate.missing),
    }


def procedure_result_to_dict(result: ProcedureResult) -> dict[str, Any]:
    """The public JSON shape of one procedure's answer (plain JSON types only)."""
    return {
        "code": result.code,
        "qualifier": result.qualifier,
        "modifiers": list(result.modifiers),
        "status": result.status,
        "match": result.match,
        "service_types": list(result.service_types),
        "payer_calls": result.payer_calls,
        "networks": {name: _network_to_dict(result.networks.get(name)) for name in NETWORK_NAMES},
        "rejections": [aaa_to_dict(a) for a in result.rejections],
        "estimate": estimate_to_dict(result.estimate),
        "notes": list(result.notes),
    }


def procedure_result_from_dict(data: dict[str, Any]) -> ProcedureResult:
    """Read back what `procedure_result_to_dict` wrote (from the API, a stored item, a report)."""
    est = data.get("estimate")
    return ProcedureResult(
        code=data["code"],
        qualifier=data.get("qualifier", "HC"),
        modifiers=list(data.get("modifiers", [])),
        status=data["status"],
        match=data.get("match"),
        service_types=list(data.get("service_types", [])),
        payer_calls=int(data.get("payer_calls", 1)),
        networks={
            name: _network_from_dict(data.get("networks", {}).get(name)) for name in NETWORK_NAMES
        },
        rejections=tuple(_aaa_from_dict(a) for a in data.get("rejections", [])),
        estimate=None
        if est is None
        else Estimate(
            allowed_amount=Decimal(est["allowed_amount"]),
            network=est["network"],
            patient_pays=_decimal(est.get("patient_pays")),
            plan_pays=_decimal(est.get("plan_pays")),
            assumptions=list(est.get("assumptions", [])),
            missing=list(est.get("missing", [])),
        ),
        notes=tuple(data.get("notes", [])),
    )
