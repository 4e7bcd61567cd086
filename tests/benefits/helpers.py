"""Small builders for 271 model objects, so each resolution rule has a fixture written here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cptverify.benefits.resolve import ProcedureRequest, resolve_procedures
from cptverify.benefits.result import ProcedureResult, procedure_result_to_dict
from cptverify.x12.model import Aaa, Benefit, Delivery, Patient, PlaceOfService, Procedure

CROSSWALK = {"99213": ("98",), "97110": ("PT", "AE"), "70551": ("62",), "90669": ("80",)}


def crosswalk(code: str, qualifier: str, modifiers: tuple[str, ...]) -> tuple[str, ...]:
    return CROSSWALK.get(code, ("30",))


def eb(
    code: str,
    level: str | None = "IND",
    sts: str = "",
    *,
    period: str | None = None,
    amount: str | None = None,
    percent: str | None = None,
    qty: tuple[str, str] | None = None,
    auth: str | None = None,
    net: str | None = None,
    proc: str | None = None,
    msgs: tuple[str, ...] = (),
    pos: tuple[str, ...] = (),
    hsd: tuple[Delivery, ...] = (),
    errors: tuple[Aaa, ...] = (),
) -> Benefit:
    """An EB row: `eb("B", "IND", "98", period="27", amount="10", net="Y", proc="HC:99213")`."""
    procedure = None
    if proc:
        qualifier, pcode, *mods = proc.split(":")
        procedure = Procedure(qualifier=qualifier, code=pcode, modifiers=mods)
    return Benefit(
        code=code,
        coverage_level=level,
        service_types=[s for s in sts.split("^") if s],
        time_period=period,
        amount=Decimal(amount) if amount is not None else None,
        percent=Decimal(percent) if percent is not None else None,
        quantity_qualifier=qty[0] if qty else None,
        quantity=Decimal(qty[1]) if qty else None,
        authorization_required=auth,
        in_plan_network=net,
        procedure=procedure,
        messages=list(msgs),
        places_of_service=[PlaceOfService(qualifier="ZZ", code=p) for p in pos],
        delivery=list(hsd),
        errors=list(errors),
    )


def aaa(loop: str, code: str, follow_up: str = "C", valid: str = "N") -> Aaa:
    return Aaa(
        loop=loop,
        valid_request=valid,
        code=code,
        follow_up=follow_up,
        description=f"reason {code}",
        retryable=False,
    )


def patient(*benefits: Benefit, status: str = "active", errors: tuple[Aaa, ...] = ()) -> Patient:
    return Patient(
        role="subscriber",
        member_id="CANARYMEMBER123",
        last_name="CANARYLAST",
        benefits=list(benefits),
        coverage_status=status,  # type: ignore[arg-type]
        errors=list(errors),
    )


def resolve(
    p: Patient,
    code: str = "99213",
    *,
    modifiers: tuple[str, ...] = (),
    allowed: str | None = None,
    network: Any = "unknown",
    transaction_errors: list[Aaa] | None = None,
) -> dict[str, Any]:
    """Resolve one code and return the public dict."""
    return procedure_result_to_dict(
        resolve_one(
            p,
            code,
            modifiers=modifiers,
            allowed=allowed,
            network=network,
            transaction_errors=transaction_errors,
        )
    )


def resolve_one(
    p: Patient,
    code: str = "99213",
    *,
    modifiers: tuple[str, ...] = (),
    allowed: str | None = None,
    network: Any = "unknown",
    transaction_errors: list[Aaa] | None = None,
) -> ProcedureResult:
    request = ProcedureRequest(
        code=code, modifiers=modifiers, allowed_amount=Decimal(allowed) if allowed else None
    )
    (result,) = resolve_procedures(
        p,
        [request],
        network=network,
        crosswalk=crosswalk,
        rejections_from_transaction=transaction_errors,
    )
    return result
