"""`cptverify build-270 REQUEST.json`: print the X12 270 inquiries for one benefit inquiry.

The request is the inquiry JSON the API accepts. Invalid input prints one line per field error
(the field's path and the rule, never the value) and exits 2; a file that cannot be read or is
not JSON prints one line and exits 2. When the payer takes fewer procedures per inquiry than
were asked, several interchanges are printed, separated by a blank line, and stderr says how
many payer calls that is.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cptverify.inquiry import Inquiry, field_errors
from cptverify.x12.builder270 import (
    BuildError,
    EnvelopeConfig,
    PayerCapabilities,
    build_270,
)

PROG = "cptverify build-270"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "build-270",
        help="build the X12 270 inquiries for an inquiry JSON file",
        description="Validate an inquiry JSON file and print its X12 005010X279A1 270(s).",
    )
    parser.add_argument("request", metavar="REQUEST.json", help="the inquiry JSON file")
    parser.add_argument("--sender-id", default="CPTVERIFY", help="ISA06/GS02 (default CPTVERIFY)")
    parser.add_argument("--receiver-id", help="ISA08/GS03 (default: the payer id)")
    parser.add_argument("--sender-qualifier", default="ZZ", help="ISA05 (default ZZ)")
    parser.add_argument("--receiver-qualifier", default="ZZ", help="ISA07 (default ZZ)")
    parser.add_argument("--usage", choices=["T", "P"], default="T", help="ISA15 (default T)")
    parser.add_argument(
        "--max-procedures",
        type=int,
        default=99,
        help="procedures the payer takes per inquiry; more are split (default 99)",
    )
    parser.add_argument(
        "--no-procedure-codes",
        action="store_true",
        help="the payer ignores EQ02: ask the crosswalked service types instead",
    )
    parser.add_argument(
        "--no-gender", action="store_true", help="the payer rejects DMG03: never send gender"
    )
    parser.add_argument(
        "--registry",
        action="store_true",
        help="take the ids and payer capabilities from the payer registry entry of the payer",
    )
    parser.add_argument(
        "--single-line", action="store_true", help="no line break after each segment"
    )
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="check the date of service against this day instead of today",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=run)


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    try:
        # utf-8-sig: a byte-order mark (as some Windows editors write) is not part of the JSON.
        raw = json.loads(Path(args.request).read_text(encoding="utf-8-sig"))
    except OSError as exc:
        return _fail(f"{args.request}: cannot read the file ({exc.strerror or 'error'})")
    except UnicodeDecodeError:
        return _fail(f"{args.request}: the file is not UTF-8 text")
    except json.JSONDecodeError as exc:
        return _fail(f"{args.request}: not valid JSON (line {exc.lineno}, column {exc.colno})")
    except (RecursionError, ValueError):
        # Nesting deeper than the parser's stack, or an integer longer than Python converts.
        return _fail(f"{args.request}: JSON nested too deeply or with a number too long")

    context = {"today": args.today} if args.today else None
    try:
        inquiry = Inquiry.model_validate(raw, context=context)
    except ValidationError as exc:
        errors = field_errors(exc)
        print(f"{PROG}: {args.request}: {len(errors)} invalid field(s)", file=sys.stderr)
        for error in errors:
            print(f"  {error['field']}: {error['rule']}", file=sys.stderr)
        return 2

    try:
        config, capabilities = _settings(args, inquiry)
        result = build_270(inquiry, config, capabilities)
    except BuildError as exc:
        return _fail(str(exc))

    if args.json:
        body = {
            "claim_id": inquiry.claim_id,
            "payer_calls": result.payer_calls,
            "interchanges": [
                {
                    "trace": built.trace,
                    "interchange_control_number": built.interchange_control_number,
                    "procedures": [p.code for p in built.procedures],
                    "service_types": list(built.service_types),
                    "x12": built.x12,
                }
                for built in result.interchanges
            ],
        }
        print(json.dumps(body, indent=2))
    else:
        print("\n".join(built.x12 for built in result.interchanges), end="")
    if result.payer_calls > 1:
        print(f"{PROG}: {result.payer_calls} payer calls", file=sys.stderr)
    return 0


def _settings(
    args: argparse.Namespace, inquiry: Inquiry
) -> tuple[EnvelopeConfig, PayerCapabilities]:
    sender = args.sender_id
    receiver = args.receiver_id or inquiry.payer.id[:15]
    capabilities = PayerCapabilities(
        accepts_procedure_codes=not args.no_procedure_codes,
        max_procedures_per_inquiry=args.max_procedures,
        accepts_gender=not args.no_gender,
    )
    if args.registry:
        from cptverify.payers.errors import PayerConfigError
        from cptverify.payers.registry import get_payer

        try:
            payer = get_payer(inquiry.payer.id)
        except PayerConfigError as exc:
            raise BuildError(str(exc)) from None
        sender, receiver = payer.sender_id, payer.receiver_id
        capabilities = PayerCapabilities.from_settings(payer)
    config = EnvelopeConfig(
        sender_id=sender,
        receiver_id=receiver,
        sender_qualifier=args.sender_qualifier,
        receiver_qualifier=args.receiver_qualifier,
        usage=args.usage,
        line_break=not args.single_line,
    )
    return config, capabilities
