"""The expected patient share of an allowed amount, from a resolved procedure.

Order: the deductible still to meet is paid first, then the copay and/or coinsurance on what is
left, and the total is capped by the out-of-pocket amount still to reach. Values are taken from
the provider's network bucket, then from rows that apply in any network (EB12 W), then from rows
that name no network. Every assumption is listed in words; when a needed value is unknown no
figure is given and `missing` says which.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, TypeVar

from cptverify.benefits.result import Accumulator, Estimate, NetworkBenefits, format_amount

if TYPE_CHECKING:
    from cptverify.benefits.result import ProcedureResult

Networks = Mapping[str, NetworkBenefits | None]

T = TypeVar("T")
_CENT = Decimal("0.01")
_ZERO = Decimal("0")
_ONE = Decimal("1")
_MAX_ALLOWED = Decimal("10000000000")
# The provider's network as the callers name it.
PROVIDER_NETWORKS = frozenset({"in", "out", "unknown"})


def _allowed_decimal(allowed: object) -> Decimal:
    """The allowed amount as a Decimal: an int as is, a float as written (0.1 is 0.1)."""
    if isinstance(allowed, Decimal):
        return allowed
    if isinstance(allowed, int) and not isinstance(allowed, bool):
        return Decimal(allowed)
    if isinstance(allowed, float):
        return Decimal(repr(allowed))
    raise TypeError(
        f"allowed_amount must be a Decimal, an int or a float, not {type(allowed).__name__}"
    )


def _cents(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _money(value: Decimal) -> str:
    return format_amount(value) or ""


def _percent_words(fraction: Decimal) -> str:
    return f"{(fraction * 100).normalize():f}%"


def _bucket_order(network: str) -> list[str]:
    if network == "in":
        return ["in", "both", "unspecified"]
    if network == "out":
        return ["out", "both", "unspecified"]
    return ["both", "unspecified"]


def _first(
    networks: Networks, order: list[str], get: Callable[[NetworkBenefits], T | None]
) -> tuple[T | None, str | None]:
    for name in order:
        bucket = networks.get(name)
        if bucket is None:
            continue
        value = get(bucket)
        if value:
            return value, name
    return None, None


def _src(source: str | None) -> str:
    return (source or "unknown").replace("_", "-") + "-level"


def _where(bucket: str) -> str:
    return {
        "in": "in-network",
        "out": "out-of-network",
        "both": "any-network",
        "unspecified": "no-network-stated",
    }[bucket]


def _remaining(
    networks: Networks,
    order: list[str],
    what: str,
    individual: Callable[[NetworkBenefits], Accumulator | None],
    family: Callable[[NetworkBenefits], Accumulator | None],
    assumptions: list[str],
) -> Decimal | None:
    """The smaller of the individual and family amounts still to reach, or None if neither."""
    found: list[tuple[Decimal, str]] = []
    for level, getter in (("individual", individual), ("family", family)):

        def usable(
            bucket: NetworkBenefits, get: Callable[[NetworkBenefits], Accumulator | None] = getter
        ) -> Accumulator | None:
            acc = get(bucket)
            if acc is not None and (acc.remaining is not None or acc.total == _ZERO):
                return acc
            return None

        acc, bucket = _first(networks, order, usable)
        if acc is None or bucket is None:

            def met_only(
                bucket: NetworkBenefits,
                get: Callable[[NetworkBenefits], Accumulator | None] = getter,
            ) -> Accumulator | None:
                acc = get(bucket)
                return acc if acc is not None and acc.met is not None else None

            sent, where = _first(networks, order, met_only)
            if sent is not None and where is not None:
                # The remaining amount is never worked out from the total and the amount met.
                assumptions.append(
                    f"{level} {what}: the payer sent the amount met so far "
                    f"({_money(sent.met or _ZERO)}, {_where(where)}) but no remaining amount, "
                    "which is not worked out from the total"
                )
            continue
        if acc.remaining is not None:
            value = acc.remaining
            assumptions.append(
                f"{level} {what} remaining {_money(value)} ({_where(bucket)}, "
                f"from {_src(acc.source)} rows) is used"
            )
        else:
            value = _ZERO
            assumptions.append(
                f"{level} {what} total is 0.00 ({_where(bucket)}), so nothing is left to meet"
            )
        found.append((value, level))
    if not found:
        return None
    value, level = min(found, key=lambda item: item[0])
    if len(found) > 1:
        assumptions.append(f"the smaller of the two, the {level} {what} remaining, applies")
    return value


def estimate_patient_share(
    result: ProcedureResult, allowed: Decimal | int | float, network: str
) -> Estimate:
    """Estimate what the patient pays of `allowed` in `network` (`in`, `out` or `unknown`)."""
    return estimate_share(result.status, result.networks, allowed, network)


def estimate_share(
    status: str,
    networks: Networks,
    allowed: Decimal | int | float,
    network: str,
    refused_in: Collection[str] = (),
) -> Estimate:
    """The estimate from a procedure's decided status and network buckets (see the module).

    `refused_in`: the networks a covered procedure is still refused in (EB I for one network);
    with an unknown provider network no figure is given then. Raises TypeError naming
    `allowed_amount` when `allowed` is not a number, and ValueError when `network` is not `in`,
    `out` or `unknown`.
    """
    allowed = _allowed_decimal(allowed)
    if network not in PROVIDER_NETWORKS:
        raise ValueError("network must be 'in', 'out' or 'unknown'")
    estimate = Estimate(allowed_amount=allowed, network=network, patient_pays=None, plan_pays=None)
    assumptions, missing = estimate.assumptions, estimate.missing

    # The inquiry refuses these; a caller of this function may not have validated.
    if not allowed.is_finite() or allowed < 0 or allowed >= _MAX_ALLOWED:
        missing.append("allowed amount (a non-negative amount below 10,000,000,000.00)")
        return estimate
    if allowed != _cents(allowed):
        # Fractions of a cent would round the share above the allowed amount.
        missing.append("allowed amount (two decimals at most)")
        return estimate
    if status in ("rejected", "inactive", "unknown"):
        missing.append(f"coverage (the status is {status})")
        return estimate
    if status == "not_covered":
        estimate.patient_pays, estimate.plan_pays = _cents(allowed), _cents(_ZERO)
        assumptions.append(
            "the payer says this service is not covered, so the patient pays "
            "the whole allowed amount"
        )
        return estimate

    if network == "unknown" and refused_in:
        missing.append(
            "the provider's network (the payer does not cover this service "
            + " or ".join(sorted(_where(name) for name in refused_in))
            + ")"
        )
        return estimate
    order = _bucket_order(network)
    if network not in ("in", "out"):
        assumptions.append(
            "the provider's network is unknown, so only values that apply in any "
            "network or that name no network were used"
        )

    deductible = _remaining(
        networks,
        order,
        "deductible",
        lambda b: b.deductible_individual,
        lambda b: b.deductible_family,
        assumptions,
    )
    if deductible is None:
        missing.append("deductible remaining")

    copays, copay_bucket = _first(
        networks, order, lambda b: [c for c in b.copay if c.amount is not None]
    )
    coins, coins_bucket = _first(
        networks, order, lambda b: [c for c in b.coinsurance if c.percent is not None]
    )
    copay: Decimal | None = None
    if copays and copay_bucket:
        amounts = sorted({c.amount for c in copays if c.amount is not None})
        if len(amounts) > 1:
            shown = ", ".join(_money(a) for a in amounts)
            missing.append(
                f"copay (the payer sent several, {shown}, told apart by messages or "
                "places of service; which one applies is not known)"
            )
        else:
            copay = amounts[0]
            entry = copays[0]
            period = f" per time period {entry.time_period}" if entry.time_period else ""
            assumptions.append(
                f"copay {_money(copay)}{period} ({_where(copay_bucket)}, "
                f"from {_src(entry.source)} rows) is charged once for this service"
            )
    coinsurance: Decimal | None = None
    if coins and coins_bucket:
        percents = sorted({c.percent for c in coins if c.percent is not None})
        if len(percents) > 1:
            shown = ", ".join(_percent_words(p) for p in percents)
            missing.append(
                f"coinsurance (the payer sent several, {shown}, told apart by "
                "messages or places of service; which one applies is not known)"
            )
        else:
            coinsurance = percents[0]
            assumptions.append(
                f"coinsurance {_percent_words(coinsurance)} "
                f"({_where(coins_bucket)}, from {_src(coins[0].source)} rows) applies "
                "to what is left after the deductible and any copay"
            )
    if not copays and not coins:
        missing.append("copay or coinsurance")

    out_of_pocket = _remaining(
        networks,
        order,
        "out-of-pocket",
        lambda b: b.out_of_pocket_individual,
        lambda b: b.out_of_pocket_family,
        assumptions,
    )
    # A payer value outside its range (a negative amount, a coinsurance above 100%) is a
    # valid X12 number but cannot be used for a share: no figure rather than a wrong one.
    for what, value in (
        ("deductible remaining", deductible),
        ("copay", copay),
        ("out-of-pocket remaining", out_of_pocket),
    ):
        if value is not None and value < 0:
            missing.append(f"{what} (the payer sent {_money(value)}, below zero)")
    if coinsurance is not None and not _ZERO <= coinsurance <= _ONE:
        missing.append(
            f"coinsurance (the payer sent {_percent_words(coinsurance)}, outside 0% to 100%)"
        )
    if missing:
        return estimate
    if out_of_pocket is None:
        assumptions.append("no out-of-pocket remaining was sent, so no cap was applied")

    assert deductible is not None
    # Limitation: the deductible is applied before a copay as well; plans that waive the
    # deductible for copay visits are not told apart (a 271 does not say so).
    from_deductible = min(allowed, deductible)
    rest = allowed - from_deductible
    assumptions.append("the deductible is paid first, before any copay or coinsurance")
    from_copay = min(copay, rest) if copay is not None else _ZERO
    rest -= from_copay
    from_coinsurance = rest * coinsurance if coinsurance is not None else _ZERO
    share = _cents(from_deductible + from_copay + from_coinsurance)
    if out_of_pocket is not None and share > out_of_pocket:
        assumptions.append(
            f"the share {_money(share)} is capped at the out-of-pocket "
            f"remaining {_money(out_of_pocket)}"
        )
        share = _cents(out_of_pocket)
    estimate.patient_pays = share
    estimate.plan_pays = _cents(allowed - share)
    return estimate
