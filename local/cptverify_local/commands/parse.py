"""`cptverify parse FILE... [--json]`: read 271 responses and show what the payer said.

Without `--json` each transaction and patient is shown as rich tables; with `--json` the public
JSON contract of `cptverify.x12.json_view` is printed (one object for one file, a list of objects
with a `file` key for several). A file that cannot be read prints one line on stderr and the
command exits 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table

from cptverify.x12.errors import X12Error
from cptverify.x12.json_view import (
    ProceduresFor,
    amount_str,
    interchange_to_dict,
    number_str,
    patient_view,
)
from cptverify.x12.model import Interchange, Patient, Transaction271
from cptverify.x12.reader271 import read_271
from cptverify_local import procedures


def table_width() -> int | None:
    """Width for the tables: the terminal's own, COLUMNS when set, else 140 (pipes, files)."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return None
    return 140


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "parse",
        help="read X12 271 eligibility responses and show the benefits",
        description="Read X12 271 files and show each transaction and patient, or JSON.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="a 271 file")
    parser.add_argument("--json", action="store_true", help="print the JSON view")
    add_procedure_arguments(parser)
    parser.set_defaults(handler=run)


def add_procedure_arguments(parser: argparse.ArgumentParser) -> None:
    """Hook for per-procedure options (planned CPT codes, allowed amounts, network)."""
    procedures.add_arguments(parser)


def procedures_for(args: argparse.Namespace) -> ProceduresFor | None:
    """Hook: a function adding `procedures` per patient, or None when none were asked for."""
    return procedures.make_hook(args)


def unused_options(args: argparse.Namespace) -> list[str]:
    """Per-procedure options that would be silently ignored: an allowed amount for a code not
    asked for with --cpt, two different amounts for one code, --network without any --cpt."""
    asked = {code for code, _ in getattr(args, "cpt", []) or []}
    problems = []
    amounts: dict[str, set[object]] = {}
    for code, amount in getattr(args, "allowed", []) or []:
        amounts.setdefault(code, set()).add(amount)
    for code, sent in amounts.items():
        if code not in asked:
            problems.append(f"--allowed {code}: the code is not asked for with --cpt {code}")
        elif len(sent) > 1:
            problems.append(f"--allowed {code}: given with different amounts")
    if not asked and getattr(args, "network", "unknown") != "unknown":
        problems.append("--network: applies to the estimate of --cpt codes; none was given")
    return problems


def run(args: argparse.Namespace) -> int:
    problems = unused_options(args)
    if problems:
        for problem in problems:
            print(f"cptverify parse: error: {problem}", file=sys.stderr)
        return 2
    hook = procedures_for(args)
    # One file at a time: read, shown or written, then let go (a directory of large responses
    # is never held at once).
    failures: list[str] = []
    if args.json:
        views = _json_views(args.files, hook, failures)
        first = next(views, None)
        if len(args.files) == 1:
            if first is not None:
                del first["file"]
                write_json(first)
        elif first is None:
            write_json([])
        else:
            write_json(StreamedArray(len(args.files), partial(chain, [first], views)))
    else:
        # Markup off: names and plan texts from a file must never be read as rich markup.
        console = Console(markup=False, highlight=False, width=table_width())
        for name in args.files:
            ic = read_file(name, failures)
            if ic is None:
                continue
            try:
                show(console, name, printable(ic), hook)
            except Exception as exc:  # noqa: BLE001 - one line, never a traceback
                _fail(name, f"unexpected {type(exc).__name__} while showing", failures)
    return 2 if failures else 0


def _fail(name: str, reason: str, failures: list[str]) -> None:
    print(f"cptverify parse: {name}: {reason}", file=sys.stderr)
    failures.append(name)


def read_file(name: str, failures: list[str]) -> Interchange | None:
    """The 271 read from file `name`, or None after one line on stderr (added to `failures`)."""
    try:
        return read_271(Path(name).read_bytes())
    except X12Error as exc:
        _fail(name, str(exc), failures)
    except OSError as exc:
        _fail(name, f"cannot read the file ({exc.strerror or type(exc).__name__})", failures)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        _fail(name, f"unexpected {type(exc).__name__} while reading", failures)
    return None


def _json_views(
    names: list[str], hook: ProceduresFor | None, failures: list[str]
) -> Iterator[dict[str, Any]]:
    """Each readable file's JSON view with its `file` key, read when the one before is written."""
    for name in names:
        ic = read_file(name, failures)
        if ic is None:
            continue
        try:
            view = {"file": name, **streamed_view(name, ic, hook, failures)}
        except Exception as exc:  # noqa: BLE001 - one line, never a traceback
            _fail(name, f"unexpected {type(exc).__name__} while rendering", failures)
            continue
        yield view


# Characters gathered before each write of the JSON view (one write per piece is slow).
WRITE_SIZE = 65536


def write_json(value: Any) -> None:
    """`print(json.dumps(value, indent=2))`, written in pieces of WRITE_SIZE as it is made."""
    pieces: list[str] = []
    size = 0
    for chunk in json.JSONEncoder(indent=2).iterencode(value):
        pieces.append(chunk)
        size += len(chunk)
        if size >= WRITE_SIZE:
            sys.stdout.write("".join(pieces))
            pieces.clear()
            size = 0
    pieces.append("\n")
    sys.stdout.write("".join(pieces))


class StreamedArray(list[Any]):
    """A JSON array whose items are made while `json.dump` writes them (its encoder iterates
    lists), so the patients of a large file are never all held as dicts at once."""

    def __init__(self, count: int, items: Callable[[], Iterator[Any]]) -> None:
        super().__init__()
        self._count = count
        self._items = items

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Any]:
        return self._items()


def streamed_view(
    name: str, ic: Interchange, hook: ProceduresFor | None, unrendered: list[str]
) -> dict[str, Any]:
    """The JSON view of `ic` with each transaction's patients made one at a time as written.

    A patient that cannot be rendered is written as null, with one line on stderr naming the
    file and the error type (never its data), and is added to `unrendered`.
    """
    shell = dataclasses.replace(
        ic, transactions=[dataclasses.replace(txn, patients=[]) for txn in ic.transactions]
    )
    view = interchange_to_dict(shell)

    def patients(txn: Transaction271) -> Iterator[dict[str, Any] | None]:
        for patient in txn.patients:
            try:
                item = patient_view(txn, patient, hook)
            except Exception as exc:  # noqa: BLE001 - one line, never a traceback
                print(
                    f"cptverify parse: {name}: unexpected {type(exc).__name__} while rendering",
                    file=sys.stderr,
                )
                unrendered.append(name)
                yield None
                continue
            yield item

    for txn_view, txn in zip(view["transactions"], ic.transactions, strict=True):
        txn_view["patients"] = StreamedArray(len(txn.patients), partial(patients, txn))
    return view


# C0 and C1 control characters (tab aside): a file must not drive the terminal (escape sequences).
_CONTROL = dict.fromkeys([*range(0x00, 0x09), *range(0x0A, 0x20), *range(0x7F, 0xA0)], "\ufffd")

T = TypeVar("T")


def printable(value: T) -> T:
    """A copy of a read model with every control character of the file's text replaced."""
    if isinstance(value, str):
        return value.translate(_CONTROL)  # type: ignore[return-value]
    if isinstance(value, list):
        return [printable(item) for item in value]  # type: ignore[return-value]
    if isinstance(value, dict):
        return {key: printable(item) for key, item in value.items()}  # type: ignore[return-value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: printable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value


def show(console: Console, name: str, ic: Interchange, hook: ProceduresFor | None) -> None:
    """Rich tables: envelope warnings, then per transaction its errors and each patient."""
    console.rule(name, style="bold")
    if ic.warnings:
        table = Table(title="Warnings", show_lines=False)
        for column in ("segment", "code", "message"):
            table.add_column(column)
        for w in ic.warnings:
            table.add_row(str(w.segment or ""), w.code, w.message)
        console.print(table)
    for txn in ic.transactions:
        _show_transaction(console, txn, hook)


def _show_transaction(console: Console, txn: Transaction271, hook: ProceduresFor | None) -> None:
    payer = txn.payer.last_name if txn.payer else "-"
    receiver = txn.receiver.last_name if txn.receiver else "-"
    console.print(
        f"Transaction {txn.control_number} {txn.implementation or '-'} "
        f"({txn.version})  payer: {payer}  receiver: {receiver}"
    )
    _show_errors(console, "Request rejected", txn.errors)
    for patient in txn.patients:
        _show_patient(console, txn, patient, hook)


def _show_errors(console: Console, title: str, errors: list[Any]) -> None:
    if not errors:
        return
    table = Table(title=title)
    for column in ("loop", "AAA01", "reason", "follow-up", "retry", "meaning"):
        table.add_column(column)
    for a in errors:
        retry = "-" if a.retryable is None else ("yes" if a.retryable else "no")
        table.add_row(
            a.loop, a.valid_request or "", a.code or "", a.follow_up or "", retry, a.description
        )
    console.print(table)


def _show_patient(
    console: Console, txn: Transaction271, patient: Patient, hook: ProceduresFor | None
) -> None:
    name = " ".join(part for part in (patient.first_name, patient.last_name) if part)
    born = patient.birth_date.isoformat() if patient.birth_date else "-"
    cov = patient.coverage
    console.print(
        f"  {patient.role} {name or '-'}  member {patient.member_id or '-'}  "
        f"born {born}  status {patient.coverage_status}  plan {cov.plan or '-'}"
        f"  group {cov.group_number or '-'}"
    )
    for note in patient.status_notes:
        console.print(f"    note: {note}")
    _show_errors(console, "Patient rejected", patient.errors)
    if patient.benefits:
        table = Table(title="Benefits", show_lines=False)
        for column in ("EB01", "level", "service types", "ins", "period", "amount", "percent"):
            table.add_column(column, no_wrap=column in ("amount", "percent", "EB01"))
        for column in ("qty", "auth", "net", "procedure", "notes"):
            table.add_column(column)
        for b in patient.benefits:
            proc = b.procedure
            notes = list(b.messages)
            notes += [
                f"entity {e.entity_id} {e.last_name or ''}".strip() for e in b.related_entities
            ]
            notes += [f"AAA {a.code}" for a in b.errors]
            table.add_row(
                b.code,
                b.coverage_level or "",
                ",".join(b.service_types),
                b.insurance_type or "",
                b.time_period or "",
                amount_str(b.amount) or "",
                number_str(b.percent) or "",
                f"{b.quantity_qualifier or ''} {number_str(b.quantity) or ''}".strip(),
                b.authorization_required or "",
                b.in_plan_network or "",
                ":".join([proc.qualifier, proc.code, *proc.modifiers]) if proc else "",
                "; ".join(notes),
            )
        console.print(table)
    if hook is not None:
        results = hook(txn, patient)
        if results:
            console.print(procedures.procedures_table(results))
