"""`cptverify check`: ask one payer about one patient's planned procedures, once.

Builds the 270 from the options, sends it through the payer's configured CORE transport (from the
payer registry; by default the local simulator), reads the 271 and prints the per-procedure
result as `cptverify parse --cpt` does (`--json` for the JSON view plus the transport facts).

Exit codes: 0 an answer was read; 1 the payer rejected the patient or the provider (AAA);
2 invalid input or configuration; 3 transport failure, busy payer or unreadable answer.
`--fault NAME` asks the simulator for an injected fault and is refused for any other endpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError
from rich.console import Console

from cptverify.inquiry import Inquiry, field_errors
from cptverify.observability import logger
from cptverify.payers.connector import FAULT_HEADER, Exchange, PayerConnector
from cptverify.payers.errors import PayerConfigError, PayerError
from cptverify.payers.registry import PayerConfig, is_loopback_url, load_registry
from cptverify.x12.builder270 import BuildError, EnvelopeConfig, PayerCapabilities, build_270
from cptverify.x12.json_view import ProceduresFor, interchange_to_dict
from cptverify_local import procedures
from cptverify_local.commands.parse import show
from cptverify_local.simulator.planbook import FAULT_NAMES

EXIT_ANSWER, EXIT_REJECTED, EXIT_INVALID, EXIT_TRANSPORT = 0, 1, 2, 3
CONNECT_ERROR = "connect_error"  # the connector's code for a connection that could not be made
SIMULATOR_HINT = (
    "nothing answers there: start the payer simulator with `cptverify simulator` "
    "(or `make simulator`) in another terminal"
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="send one 270 to a payer and show the per-CPT benefits of its 271",
        description="Ask a payer (by default the local simulator) about planned procedures.",
        epilog="exit codes: 0 answer read, 1 payer rejected patient or provider (AAA), "
        "2 invalid input or configuration, 3 transport failure, busy payer or unreadable answer",
    )
    parser.add_argument("--payer", required=True, help="payer id in the payer registry")
    parser.add_argument("--member-id", required=True)
    parser.add_argument("--last-name", required=True)
    parser.add_argument("--first-name", required=True)
    parser.add_argument("--birth-date", help="YYYY-MM-DD")
    parser.add_argument("--gender", choices=("M", "F", "U"))
    parser.add_argument("--dependent-first-name", help="ask about a dependent of the subscriber")
    parser.add_argument("--dependent-last-name")
    parser.add_argument("--dependent-birth-date", help="YYYY-MM-DD")
    parser.add_argument("--relationship", default="19", help="dependent relationship (01, 19, 34)")
    parser.add_argument("--npi", required=True, help="the provider's NPI")
    parser.add_argument("--provider-name", default="CPTVERIFY CLINIC", help="organization name")
    parser.add_argument("--service-type", action="append", default=[], help="EQ01; repeatable")
    parser.add_argument("--date-of-service", default=None, help="YYYY-MM-DD (default today)")
    parser.add_argument("--claim-id", default="CHECK-1")
    parser.add_argument("--fault", choices=FAULT_NAMES, help="simulator only: inject this fault")
    parser.add_argument("--read-timeout", type=float, help="override the payer's read timeout (s)")
    parser.add_argument("--base-url", help="base URL for registry paths (default: the simulator)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--verbose", action="store_true", help="keep the connector's log lines")
    procedures.add_arguments(parser)
    parser.set_defaults(handler=run)


def _fail(message: str, code: int) -> int:
    print(f"cptverify check: {message}", file=sys.stderr)
    return code


def _inquiry(args: argparse.Namespace, payer: PayerConfig) -> Inquiry:
    subscriber: dict[str, Any] = {
        "member_id": args.member_id,
        "first_name": args.first_name,
        "last_name": args.last_name,
    }
    if args.birth_date:
        subscriber["birth_date"] = args.birth_date
    if args.gender:
        subscriber["gender"] = args.gender
    body: dict[str, Any] = {
        "claim_id": args.claim_id,
        "date_of_service": args.date_of_service or date.today().isoformat(),
        "payer": {"id": payer.id, "name": payer.name},
        "provider": {"npi": args.npi, "organization_name": args.provider_name},
        "subscriber": subscriber,
        "procedures": [{"code": code, "modifiers": list(mods)} for code, mods in args.cpt],
        "service_types": list(args.service_type),
    }
    if args.dependent_first_name:
        body["dependent"] = {
            "first_name": args.dependent_first_name,
            "last_name": args.dependent_last_name or args.last_name,
            "birth_date": args.dependent_birth_date,
            "relationship_code": args.relationship,
        }
    return Inquiry.model_validate(body)


def run(args: argparse.Namespace) -> int:
    if not args.verbose:
        logger.setLevel("WARNING")
    try:
        payer = load_registry().get(args.payer)
        if args.read_timeout is not None:
            payer = payer.model_copy(update={"read_timeout_seconds": args.read_timeout})
        if args.fault and not payer.is_loopback(args.base_url):
            return _fail("--fault is only allowed against the local simulator (loopback)", 2)
        inquiry = _inquiry(args, payer)
        capabilities = PayerCapabilities(
            accepts_procedure_codes=payer.accepts_procedure_codes,
            max_procedures_per_inquiry=payer.max_procedures_per_inquiry,
            accepts_gender=payer.accepts_gender,
        )
        built = build_270(
            inquiry, EnvelopeConfig(sender_id=payer.sender_id, receiver_id=payer.receiver_id),
            capabilities,
        )  # fmt: skip
        connector = PayerConnector(payer, base_url=args.base_url)
    except ValidationError as exc:
        problems = "; ".join(f"{e['field']}: {e['rule']}" for e in field_errors(exc))
        return _fail(f"invalid input: {problems}", EXIT_INVALID)
    except (PayerConfigError, BuildError, ValueError) as exc:
        return _fail(str(exc), EXIT_INVALID)

    headers = {FAULT_HEADER: args.fault} if args.fault else None
    hook = procedures.make_hook(args)
    console = Console() if sys.stdout.isatty() else Console(width=140)
    outputs: list[dict[str, Any]] = []
    rejected = False
    with connector:
        for number, interchange in enumerate(built.interchanges, start=1):
            try:
                exchange = connector.send(
                    interchange.x12, expected_traces=[interchange.trace], headers=headers
                )
            except PayerError as exc:
                return _report_error(exc, args.json, connector.url)
            except PayerConfigError as exc:
                return _fail(str(exc), EXIT_INVALID)
            assert exchange.interchange is not None
            rejected = rejected or exchange.rejected
            if args.json:
                view = interchange_to_dict(exchange.interchange, hook)
                outputs.append({"exchange": exchange.facts(), "response": view})
            else:
                title = f"{payer.id} call {number}/{built.payer_calls} ({payer.transport})"
                _show(console, title, exchange, hook)
    if args.json:
        print(json.dumps(outputs[0] if len(outputs) == 1 else outputs, indent=2))
    return EXIT_REJECTED if rejected else EXIT_ANSWER


def _show(console: Console, title: str, exchange: Exchange, hook: ProceduresFor | None) -> None:
    """Without --cpt the whole 271 as `parse` shows it; with --cpt a line per patient and the
    per-procedure table."""
    ic = exchange.interchange
    assert ic is not None
    if hook is None:
        show(console, title, ic, None)
    else:
        console.print(
            f"[bold]{title}[/] HTTP {exchange.http_status}, payload {exchange.payload_id}, "
            f"{exchange.total_ms:.0f} ms"
        )
        for txn in ic.transactions:
            for patient in txn.patients:
                cov = patient.coverage
                console.print(
                    f"{patient.role} member {patient.member_id or '-'}: "
                    f"[bold]{patient.coverage_status}[/], plan {cov.plan or '-'}"
                )
                results = hook(txn, patient)
                if results:
                    console.print(procedures.procedures_table(results))
    for aaa in exchange.rejections:
        console.print(
            f"[bold red]rejected[/]: AAA {aaa.code} in loop {aaa.loop}: "
            f"{aaa.description} (follow-up {aaa.follow_up or '-'})"
        )


def _report_error(exc: PayerError, as_json: bool, url: str) -> int:
    """The error in one line (or as JSON), with the URL tried and, when nothing listens on a
    loopback URL, how to start the simulator."""
    tried = _shown_url(url)
    hint = None
    if exc.code == CONNECT_ERROR and is_loopback_url(url):
        hint = SIMULATOR_HINT
    if as_json:
        print(json.dumps({**exc.to_dict(), "url": tried, "hint": hint}, indent=2))
    else:
        retry = "retryable" if exc.retryable else "not retryable"
        line = (
            f"{exc.error_name}: {exc} ({retry}, least delay {exc.least_delay_seconds:g} s); "
            f"tried {tried}"
        )
        if hint:
            line += f"; {hint}"
        print(line, file=sys.stderr)
    return EXIT_TRANSPORT


def _shown_url(url: str) -> str:
    """The endpoint without user info or query (an endpoint could carry a token in either)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
