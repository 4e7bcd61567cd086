"""Per-procedure options of `cptverify parse` and their table.

`--cpt CODE[:MOD...]` (repeatable), `--allowed CODE=AMOUNT` (repeatable) and `--network in|out`
resolve each requested code for every patient read; the JSON gains `procedures` per patient and
the table one row per procedure and network bucket.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from rich.table import Table

from cptverify.benefits.resolve import Network, ProcedureRequest, resolve_procedures
from cptverify.benefits.result import NETWORK_NAMES, procedure_result_to_dict
from cptverify.x12.json_view import ProceduresFor
from cptverify.x12.model import Patient, Transaction271

_CODE = re.compile(r"^[A-Z0-9]{5}$")
_MODIFIER = re.compile(r"^[A-Z0-9]{2}$")
_CDT = re.compile(r"^D\d{4}$")
_AMOUNT = re.compile(r"^(?:[0-9]+(?:\.[0-9]{0,2})?|\.[0-9]{1,2})$")
_MAX_AMOUNT = Decimal("10000000000")


def procedure_arg(text: str) -> tuple[str, tuple[str, ...]]:
    """`99213` or `97110:GP:59` -> (code, modifiers); a bad value names what is wrong."""
    code, *modifiers = text.strip().upper().split(":")
    if not _CODE.match(code):
        raise argparse.ArgumentTypeError(f"--cpt {text!r}: a code is five letters or digits")
    if len(modifiers) > 4 or not all(_MODIFIER.match(m) for m in modifiers):
        raise argparse.ArgumentTypeError(
            f"--cpt {text!r}: at most four modifiers of two letters or digits"
        )
    return code, tuple(modifiers)


def allowed_arg(text: str) -> tuple[str, Decimal]:
    """`99213=95.00` -> (code, Decimal("95.00"))."""
    code, sep, amount = text.partition("=")
    # The inquiry's rule: plain notation, two decimals at most, below ten billion (Decimal()
    # alone also takes 1e999, 1_000 and other scripts' digits, which the estimate cannot use).
    value = Decimal(-1)
    if _AMOUNT.match(amount.strip()):
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            value = Decimal(-1)
    if (
        not sep
        or not _CODE.match(code.strip().upper())
        or not value.is_finite()
        or value < 0
        or value >= _MAX_AMOUNT
    ):
        raise argparse.ArgumentTypeError(
            f"--allowed {text!r}: expected CODE=AMOUNT with a non-negative amount"
        )
    return code.strip().upper(), value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cpt",
        action="append",
        type=procedure_arg,
        default=[],
        metavar="CODE[:MOD...]",
        help="a planned procedure code (CPT, HCPCS or CDT) with optional modifiers; repeatable",
    )
    parser.add_argument(
        "--allowed",
        action="append",
        type=allowed_arg,
        default=[],
        metavar="CODE=AMOUNT",
        help="the allowed amount of a code, for the patient-share estimate; repeatable",
    )
    parser.add_argument(
        "--network",
        choices=("in", "out"),
        default="unknown",
        help="the provider's network for the estimate (default: unknown)",
    )


def requests_from_args(args: argparse.Namespace) -> list[ProcedureRequest]:
    allowed = dict(getattr(args, "allowed", []) or [])
    requests = []
    for code, modifiers in getattr(args, "cpt", []) or []:
        requests.append(
            ProcedureRequest(
                code=code,
                qualifier="AD" if _CDT.match(code) else "HC",
                modifiers=modifiers,
                allowed_amount=allowed.get(code),
            )
        )
    return requests


def make_hook(args: argparse.Namespace) -> ProceduresFor | None:
    """A `procedures_for(txn, patient)` for the JSON view, or None when no code was asked for."""
    requests = requests_from_args(args)
    if not requests:
        return None
    network: Network = (
        "in" if args.network == "in" else "out" if args.network == "out" else ("unknown")
    )

    def procedures_for(txn: Transaction271, patient: Patient) -> list[dict[str, Any]]:
        results = resolve_procedures(
            patient, requests, network=network, rejections_from_transaction=txn.errors
        )
        return [procedure_result_to_dict(r) for r in results]

    return procedures_for


def _percent(text: str) -> str:
    return f"{(Decimal(text) * 100).normalize():f}%"


def _copays(bucket: Mapping[str, Any]) -> str:
    parts = []
    for entry in bucket["copay"]:
        text = entry["amount"] or "?"
        qualifiers = [*entry["messages"], *(f"POS {p}" for p in entry["places_of_service"])]
        parts.append(f"{text} ({'; '.join(qualifiers)})" if qualifiers else text)
    return "\n".join(parts) or "-"


def _coinsurance(bucket: Mapping[str, Any]) -> str:
    parts = []
    for entry in bucket["coinsurance"]:
        text = _percent(entry["percent"]) if entry["percent"] else "?"
        parts.append(f"{text} ({'; '.join(entry['messages'])})" if entry["messages"] else text)
    return "\n".join(parts) or "-"


def _remaining(block: Mapping[str, Any]) -> str:
    parts = []
    for level, tag in (("individual", "ind"), ("family", "fam")):
        acc = block[level]
        if acc and acc["remaining"] is not None:
            parts.append(f"{acc['remaining']} {tag}")
    return "\n".join(parts) or "-"


def _estimate(result: Mapping[str, Any]) -> str:
    est = result.get("estimate")
    if not est:
        return "-"
    if est["patient_pays"] is None:
        return "unknown: " + ", ".join(est["missing"])
    return f"patient {est['patient_pays']} / plan {est['plan_pays']} ({est['network']})"


def _has_figures(bucket: Mapping[str, Any] | None) -> bool:
    """False for no bucket, or one holding only messages (the table has no column for them)."""
    if not bucket:
        return False
    return any(bucket[k] for k in ("copay", "coinsurance", "limits", "authorization_required")) or (
        any(
            bucket[k][lvl]
            for k in ("deductible", "out_of_pocket")
            for lvl in ("individual", "family")
        )
    )


def procedures_table(procedures: Sequence[Mapping[str, Any]]) -> Table:
    """One row per procedure and network bucket the payer answered for."""
    table = Table(title="Procedures", show_lines=True)
    for column in ("code", "status", "match", "network", "copay", "coinsurance"):
        table.add_column(column)
    for column in ("deductible left", "OOP left", "authorization", "estimate"):
        table.add_column(column)
    for result in procedures:
        code = ":".join([result["code"], *result["modifiers"]])
        buckets: list[tuple[str, Any]] = [
            (n, result["networks"][n]) for n in NETWORK_NAMES if _has_figures(result["networks"][n])
        ]
        first = True
        for name, bucket in buckets or [("-", None)]:
            auth = bucket["authorization_required"] if bucket else None
            table.add_row(
                code if first else "",
                result["status"] if first else "",
                (result["match"] or "-") if first else "",
                name,
                _copays(bucket) if bucket else "-",
                _coinsurance(bucket) if bucket else "-",
                _remaining(bucket["deductible"]) if bucket else "-",
                _remaining(bucket["out_of_pocket"]) if bucket else "-",
                f"{auth['required']} ({auth['source']})" if auth else "-",
                _estimate(result) if first else "",
            )
            first = False
    return table
