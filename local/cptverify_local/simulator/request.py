"""Turn a received 270 into what the 271 writer needs (via the project's 270 reader)."""

from __future__ import annotations

from cptverify.x12.reader270 import Party270, Request270, read_270
from cptverify.x12.segments import tokenize
from cptverify_local.simulator.writer271 import (
    Asked270,
    AskedGroup,
    AskedPatient,
    AskedProcedure,
)


def _patient(
    party: Party270 | None, request: Request270, *, dependent: bool, asks: bool
) -> AskedPatient:
    party = party or Party270(entity_id="IL")
    patient = AskedPatient(
        dependent=dependent,
        member_id=party.identifier,
        last_name=party.last_name,
        first_name=party.first_name,
        birth_date=party.birth_date,
        gender=party.gender,
    )
    if asks:
        if request.trace:
            patient.traces.append((request.trace, request.trace_originator))
        patient.service_types = list(request.service_types)
        patient.procedures = [
            AskedProcedure(p.qualifier, p.code, list(p.modifiers)) for p in request.procedures
        ]
        patient.service_date = request.date_of_service
    return patient


# Limitation: a 270 with several transactions is answered as one 271 transaction, with the
# BHT reference and provider of the first.
def asked_from_270(payload: str) -> Asked270:
    """Read a 270 (raises the reader's `X12Error` when it cannot) into an `Asked270`."""
    requests = read_270(payload)
    isa = tokenize(payload).segments[0]
    first = requests[0] if requests else None
    provider = first.provider if first else None
    asked = Asked270(
        sender_id=isa[6].strip() if len(isa) > 6 else "",
        receiver_id=isa[8].strip() if len(isa) > 8 else "",
        reference=first.reference if first else None,
        payer_id=first.payer.identifier if first and first.payer else None,
        provider_npi=provider.identifier if provider else None,
        provider_entity_type=(provider.entity_type or "1") if provider else "1",
        provider_last_name=provider.last_name if provider else None,
        provider_first_name=provider.first_name if provider else None,
    )
    for request in requests:
        if request.dependent is not None:
            group = AskedGroup(
                subscriber=_patient(request.subscriber, request, dependent=False, asks=False),
                dependents=[_patient(request.dependent, request, dependent=True, asks=True)],
            )
        else:
            group = AskedGroup(
                subscriber=_patient(request.subscriber, request, dependent=False, asks=True)
            )
        asked.groups.append(group)
    return asked
