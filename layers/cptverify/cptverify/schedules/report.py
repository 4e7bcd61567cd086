"""The batch report (one line per appointment and CPT) and the error report, as CSV and JSON.

A report line joins three things: the batch line (row, appointment, claim, claim line, CPT), the
inquiry's terminal status (with its reason when rejected or failed) and the per-CPT result the
table holds. Figures are taken from the network the estimate used, else the provider's network,
else the first network the payer answered for; `both` and `unspecified` fill in a missing value.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from cptverify.schedules.grouping import Line
from cptverify.schedules.rows import RowProblem

REPORT_COLUMNS: tuple[str, ...] = (
    "row",
    "appointment_id",
    "claim_id",
    "payer_id",
    "line",
    "code",
    "modifiers",
    "status",
    "match",
    "network",
    "copay",
    "coinsurance",
    "deductible_remaining",
    "out_of_pocket_remaining",
    "authorization",
    "estimate",
    "reason",
)
ERROR_COLUMNS: tuple[str, ...] = ("row", "appointment_id", "claim_id", "column", "reason")

_AUTHORIZATION = {"Y": "required", "N": "not required", "U": "unknown"}
_NETWORK_WORDS = {"in": "in-network", "out": "out-of-network"}


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One appointment procedure in the report. Values are display strings; '' when unknown."""

    row: int
    appointment_id: str
    claim_id: str
    payer_id: str
    line: int
    code: str
    modifiers: str
    status: str
    match: str
    network: str
    copay: str
    coinsurance: str
    deductible_remaining: str
    out_of_pocket_remaining: str
    authorization: str
    estimate: str
    reason: str


def _pick_network(result: dict[str, Any], provider_network: str) -> str:
    networks = result.get("networks") or {}
    estimate = result.get("estimate") or {}
    if estimate.get("network") in ("in", "out"):
        return str(estimate["network"])
    if provider_network in ("in", "out"):
        return provider_network
    for name in ("in", "both", "unspecified", "out"):
        if networks.get(name):
            return name
    return ""


def _buckets(result: dict[str, Any], network: str) -> list[dict[str, Any]]:
    networks = result.get("networks") or {}
    names = [network, "both", "unspecified"] if network else ["both", "unspecified"]
    return [networks[n] for n in dict.fromkeys(names) if networks.get(n)]


def _first(buckets: list[dict[str, Any]], kind: str, value: str) -> str | None:
    for bucket in buckets:
        for entry in bucket.get(kind) or []:
            if entry.get(value) is not None and entry.get("coverage_level") in (None, "IND"):
                return str(entry[value])
        for entry in bucket.get(kind) or []:
            if entry.get(value) is not None:
                return str(entry[value])
    return None


def _remaining(buckets: list[dict[str, Any]], kind: str) -> str | None:
    for bucket in buckets:
        individual = (bucket.get(kind) or {}).get("individual") or {}
        if individual.get("remaining") is not None:
            return str(individual["remaining"])
    return None


def _percent(fraction: str | None) -> str:
    if fraction is None:
        return ""
    try:
        value = (Decimal(fraction) * 100).normalize()
    except InvalidOperation:
        return ""
    return f"{value:f}%"


def _authorization(buckets: list[dict[str, Any]]) -> str:
    for bucket in buckets:
        auth = bucket.get("authorization_required")
        if auth:
            return _AUTHORIZATION.get(str(auth.get("required")), "unknown")
    return ""


def result_reason(result: dict[str, Any], network: str | None, provider_network: str | None) -> str:
    """Why a line reads as it does: the result's notes (a network not covered, say), a network
    with no figures, and why there is no estimate. Plain words and codes only, no patient data."""
    parts = [str(note) for note in result.get("notes") or []]
    networks = result.get("networks") or {}
    if (
        result.get("status") == "covered"
        and network in _NETWORK_WORDS
        and not networks.get(network)
    ):
        parts.append(f"the payer sent no {_NETWORK_WORDS[network]} figures")
    estimate = result.get("estimate")
    if provider_network not in _NETWORK_WORDS and isinstance(estimate, dict):
        provider_network = estimate.get("network")
    known = provider_network in _NETWORK_WORDS
    if not known and network in _NETWORK_WORDS:
        parts.append(
            f"the provider's network is unknown; {_NETWORK_WORDS[network]} figures are shown"
        )
    if isinstance(estimate, dict) and estimate.get("patient_pays") is None:
        if not known:
            parts.append(
                "no estimate: the provider's network is unknown (give provider_network in or out)"
            )
        elif estimate.get("missing"):
            parts.append("no estimate: missing " + ", ".join(map(str, estimate["missing"])))
    return "; ".join(dict.fromkeys(parts))


def _inquiry_reason(inquiry: dict[str, Any]) -> str:
    """Why an inquiry has no usable answer: its AAA rejections, or its failure reason."""
    if inquiry.get("rejections"):
        return _rejection_reason(inquiry)
    reason = inquiry.get("reason")
    if isinstance(reason, dict):
        return str(reason.get("message") or reason.get("error") or "")
    return str(reason or "")


def _rejection_reason(result: dict[str, Any]) -> str:
    parts = []
    for aaa in result.get("rejections") or []:
        code = aaa.get("code") or ""
        description = aaa.get("description") or ""
        parts.append(f"AAA {code} {description}".strip())
    return "; ".join(parts)


def report_line(
    line: Line,
    inquiry: dict[str, Any] | None,
    result: dict[str, Any] | None,
) -> ReportLine:
    """Join a batch line with its inquiry item and its per-CPT result (either may be absent)."""
    inquiry = inquiry or {}
    inquiry_status = str(inquiry.get("status") or "PENDING").upper()
    reason = _inquiry_reason(inquiry)
    provider_network = str(
        inquiry.get("network")
        or ((inquiry.get("inquiry") or {}).get("provider") or {}).get("network")
        or ((result or {}).get("estimate") or {}).get("network")
        or "unknown"
    )
    if result is not None and inquiry_status in ("COMPLETED", "REJECTED"):
        network = _pick_network(result, provider_network)
        buckets = _buckets(result, network)
        estimate = (result.get("estimate") or {}).get("patient_pays")
        status = str(result.get("status") or "unknown")
        return ReportLine(
            row=line.row,
            appointment_id=line.appointment_id,
            claim_id=line.claim_id,
            payer_id=line.payer_id,
            line=line.line,
            code=line.code,
            modifiers=":".join(line.modifiers),
            status=status,
            match=str(result.get("match") or ""),
            network=network,
            copay=_first(buckets, "copay", "amount") or "",
            coinsurance=_percent(_first(buckets, "coinsurance", "percent")),
            deductible_remaining=_remaining(buckets, "deductible") or "",
            out_of_pocket_remaining=_remaining(buckets, "out_of_pocket") or "",
            authorization=_authorization(buckets),
            estimate="" if estimate is None else str(estimate),
            reason=(
                (_rejection_reason(result) or reason)
                if status == "rejected"
                else result_reason(result, network, provider_network)
            ),
        )
    return ReportLine(
        row=line.row,
        appointment_id=line.appointment_id,
        claim_id=line.claim_id,
        payer_id=line.payer_id,
        line=line.line,
        code=line.code,
        modifiers=":".join(line.modifiers),
        status=inquiry_status.lower(),
        match="",
        network="",
        copay="",
        coinsurance="",
        deductible_remaining="",
        out_of_pocket_remaining="",
        authorization="",
        estimate="",
        reason=reason,
    )


def render_csv(lines: Iterable[ReportLine]) -> bytes:
    """The report as CSV (header row, one line per appointment procedure, CRLF as Excel likes)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(REPORT_COLUMNS)
    for item in lines:
        writer.writerow([getattr(item, c) for c in REPORT_COLUMNS])
    return buffer.getvalue().encode()


def render_json(header: dict[str, Any], lines: Iterable[ReportLine]) -> bytes:
    """The report as one JSON document: the batch header and its `lines`."""
    return json.dumps({**header, "lines": [asdict(item) for item in lines]}, indent=1).encode()


def render_errors_csv(problems: Iterable[RowProblem]) -> bytes:
    """The error report: row number, ids, column and reason; no other cell of the row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ERROR_COLUMNS)
    for problem in problems:
        writer.writerow([getattr(problem, c) for c in ERROR_COLUMNS])
    return buffer.getvalue().encode()


def read_report_csv(data: bytes) -> list[dict[str, str]]:
    """Parse a rendered report (or error report) back into dicts, for tests and the CLI."""
    return list(csv.DictReader(io.StringIO(data.decode())))
