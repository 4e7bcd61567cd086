"""The public JSON view of a read 271 (`cptverify parse --json` and the API).

Rules: amounts are strings with at least two decimals (`10` is shown as `"10.00"`, `12.345` keeps
its three decimals); percents are decimal-fraction strings as sent (`.2` is `"0.2"`); quantities
are strings as sent; dates are ISO `YYYY-MM-DD`; a value the payer did not send is null, never 0.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from cptverify.x12.model import (
    Aaa,
    Address,
    Benefit,
    DateValue,
    Entity,
    Interchange,
    Patient,
    Reference,
    Transaction271,
)

ProceduresFor = Callable[[Transaction271, Patient], "list[dict[str, Any]] | None"]
CENT = Decimal("0.01")


def amount_str(value: Decimal | None) -> str | None:
    """Money as a string with at least two decimals; None stays None."""
    if value is None:
        return None
    text = format(value, "f")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        # Padded as text, not by quantize: exact at any size (no decimal context limit).
        whole, _, fraction = text.partition(".")
        text = f"{whole}.{fraction:0<2}"
    return text


def number_str(value: Decimal | None) -> str | None:
    """A percent or quantity as sent, in plain (not scientific) notation."""
    if value is None:
        return None
    return format(value, "f")


def aaa_to_dict(aaa: Aaa) -> dict[str, Any]:
    return {
        "loop": aaa.loop,
        "valid_request": aaa.valid_request,
        "code": aaa.code,
        "follow_up": aaa.follow_up,
        "description": aaa.description,
        "retryable": aaa.retryable,
        "segment": aaa.segment,
    }


def _address(address: Address | None) -> dict[str, Any] | None:
    if address is None:
        return None
    return {
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "state": address.state,
        "postal_code": address.postal_code,
    }


def _reference(ref: Reference) -> dict[str, Any]:
    return {"qualifier": ref.qualifier, "value": ref.value, "description": ref.description}


def date_to_dict(value: DateValue) -> dict[str, Any]:
    return {
        "qualifier": value.qualifier,
        "format": value.format,
        "start": value.start.isoformat() if value.start else None,
        "end": value.end.isoformat() if value.end else None,
        "raw": value.raw,
    }


def entity_to_dict(entity: Entity) -> dict[str, Any]:
    return {
        "entity_id": entity.entity_id,
        "entity_type": entity.entity_type,
        "benefit_code": entity.benefit_code,
        "name": _name(entity),
        "last_name": entity.last_name,
        "first_name": entity.first_name,
        "middle_name": entity.middle_name,
        "id_qualifier": entity.id_qualifier,
        "id": entity.id,
        "address": _address(entity.address),
        "contacts": [
            {
                "function": c.function,
                "name": c.name,
                "channels": [{"qualifier": q, "number": n} for q, n in c.channels],
            }
            for c in entity.contacts
        ],
        "provider_code": entity.provider_code,
        "taxonomy": entity.taxonomy,
        "references": [_reference(r) for r in entity.references],
    }


def _name(entity: Entity | None) -> str | None:
    if entity is None:
        return None
    if entity.entity_type == "1" and entity.first_name:
        return f"{entity.first_name} {entity.last_name or ''}".strip()
    return entity.last_name


def benefit_to_dict(b: Benefit) -> dict[str, Any]:
    procedure = b.procedure
    return {
        "code": b.code,
        "coverage_level": b.coverage_level,
        "service_types": list(b.service_types),
        "insurance_type": b.insurance_type,
        "plan_description": b.plan_description,
        "time_period": b.time_period,
        "amount": amount_str(b.amount),
        "percent": number_str(b.percent),
        "quantity_qualifier": b.quantity_qualifier,
        "quantity": number_str(b.quantity),
        "authorization_required": b.authorization_required,
        "in_plan_network": b.in_plan_network,
        "procedure": (
            {
                "qualifier": procedure.qualifier,
                "code": procedure.code,
                "modifiers": list(procedure.modifiers),
            }
            if procedure is not None
            else None
        ),
        "places_of_service": [
            {"qualifier": p.qualifier, "code": p.code, "category": p.category}
            for p in b.places_of_service
        ],
        "delivery": [
            {
                "quantity_qualifier": h.quantity_qualifier,
                "quantity": number_str(h.quantity),
                "unit": h.unit,
                "sample_selection_modulus": number_str(h.sample_selection_modulus),
                "time_period": h.time_period,
                "periods": number_str(h.periods),
                "frequency": h.frequency,
                "pattern": h.pattern,
            }
            for h in b.delivery
        ],
        "dates": [date_to_dict(d) for d in b.dates],
        "references": [_reference(r) for r in b.references],
        "messages": list(b.messages),
        "related_entities": [entity_to_dict(e) for e in b.related_entities],
        "errors": [aaa_to_dict(a) for a in b.errors],
        "segment": b.segment,
    }


def patient_to_dict(p: Patient) -> dict[str, Any]:
    c = p.coverage
    return {
        "role": p.role,
        "member_id": p.member_id,
        "subscriber_member_id": p.subscriber_member_id,
        "last_name": p.last_name,
        "first_name": p.first_name,
        "middle_name": p.middle_name,
        "birth_date": p.birth_date.isoformat() if p.birth_date else None,
        "gender": p.gender,
        "relationship": p.relationship,
        "address": _address(p.address),
        "traces": [
            {"type": t.type, "number": t.number, "originator": t.originator} for t in p.traces
        ],
        "references": [_reference(r) for r in p.references],
        "coverage_status": p.coverage_status,
        "status_notes": list(p.status_notes),
        "coverage": {
            "plan": c.plan,
            "plan_number": c.plan_number,
            "group_number": c.group_number,
            "group_name": c.group_name,
            "insurance_type": c.insurance_type,
            "dates": {q: date_to_dict(v) for q, v in c.dates.items()},
            "other_payers": [entity_to_dict(e) for e in c.other_payers],
            "related_entities": [entity_to_dict(e) for e in c.related_entities],
        },
        "errors": [aaa_to_dict(a) for a in p.errors],
        "benefits": [benefit_to_dict(b) for b in p.benefits],
    }


def patient_view(
    txn: Transaction271, patient: Patient, procedures_for: ProceduresFor | None = None
) -> dict[str, Any]:
    """One patient of `txn` as in `transaction_to_dict`, with its `procedures` when asked."""
    item = patient_to_dict(patient)
    if procedures_for is not None:
        procedures = procedures_for(txn, patient)
        if procedures is not None:
            item["procedures"] = procedures
    return item


def transaction_to_dict(
    txn: Transaction271, procedures_for: ProceduresFor | None = None
) -> dict[str, Any]:
    payer = txn.payer
    receiver = txn.receiver
    patients = [patient_view(txn, patient, procedures_for) for patient in txn.patients]
    return {
        "control_number": txn.control_number,
        "implementation": txn.implementation,
        "version": txn.version,
        "reference": txn.reference,
        "errors": [aaa_to_dict(a) for a in txn.errors],
        "payer": (
            {"name": _name(payer), "id": payer.id, "id_qualifier": payer.id_qualifier}
            if payer is not None
            else None
        ),
        "receiver": (
            {
                "name": _name(receiver),
                "npi": receiver.id if receiver.id_qualifier == "XX" else None,
                "id": receiver.id,
                "id_qualifier": receiver.id_qualifier,
            }
            if receiver is not None
            else None
        ),
        "patients": patients,
    }


def interchange_to_dict(
    ic: Interchange, procedures_for: ProceduresFor | None = None
) -> dict[str, Any]:
    """The whole read as JSON-ready dicts; `procedures_for(txn, patient)` adds `procedures`."""
    return {
        "warnings": [
            {"code": w.code, "message": w.message, "segment": w.segment} for w in ic.warnings
        ],
        "transactions": [transaction_to_dict(t, procedures_for) for t in ic.transactions],
    }
