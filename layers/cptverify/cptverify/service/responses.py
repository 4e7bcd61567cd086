"""Parsing a 271 the partner already holds: the same JSON as `cptverify parse --json --cpt`."""

from __future__ import annotations

from typing import Any

from cptverify.service.errors import InvalidInput
from cptverify.x12.model import Patient, Transaction271

# Each per-CPT result is about 2 KB of JSON and a Lambda answer at most 6 MB: beyond this many the
# answer could not be delivered, so the work is refused before it is done.
MAX_PROCEDURE_RESULTS = 2000


def parse_271(
    data: str | bytes,
    codes: list[str],
    *,
    network: str = "unknown",
) -> dict[str, Any]:
    """The interchange as JSON with per-CPT `procedures` for each patient.

    Raises the reader's `X12Error` (code and position only) when the text is not a 271, and
    `InvalidInput` when patients x codes is more than `MAX_PROCEDURE_RESULTS`.
    """
    from cptverify.benefits.resolve import ProcedureRequest, resolve_procedures
    from cptverify.benefits.result import procedure_result_to_dict
    from cptverify.x12.json_view import interchange_to_dict
    from cptverify.x12.reader271 import read_271

    requests = [_request(code, ProcedureRequest) for code in codes]

    def procedures_for(txn: Transaction271, patient: Patient) -> list[dict[str, Any]] | None:
        if not requests:
            return None
        results = resolve_procedures(
            patient,
            requests,
            network=network,  # type: ignore[arg-type]
            rejections_from_transaction=list(txn.errors),
        )
        return [procedure_result_to_dict(r) for r in results]

    interchange = read_271(data)
    patients = sum(len(txn.patients) for txn in interchange.transactions)
    if patients * len(requests) > MAX_PROCEDURE_RESULTS:
        raise InvalidInput(
            f"{patients} patients x {len(requests)} cpt values is more than "
            f"{MAX_PROCEDURE_RESULTS} per-CPT results; send fewer cpt values or a smaller 271",
            "query.cpt",
        )
    return interchange_to_dict(interchange, procedures_for)


def _request(spec: str, factory: Any) -> Any:
    """`99213`, `99213:25` or `AD:D0120` style codes, as the CLI takes them."""
    parts = spec.split(":")
    qualifier = "HC"
    if parts[0] in ("HC", "AD"):
        qualifier, parts = parts[0], parts[1:]
    return factory(code=parts[0], qualifier=qualifier, modifiers=tuple(parts[1:]))
