"""`cptverify simulator [--port N] [--plan-book FILE] [--canned]`: run the payer simulator.

Listens on loopback only, speaks CAQH CORE MIME (`/core/mime`) and SOAP (`/core/soap`), answers
270s from the plan book, and serves request counts on `/metrics`. Stops cleanly on Ctrl-C or
SIGTERM. A malformed plan book stops it at start with the entry and field named (exit 2).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from cptverify_local.ports import tcp_port
from cptverify_local.simulator.planbook import DEFAULT_PLAN_BOOK, PlanBookError, load_plan_book
from cptverify_local.simulator.server import DEFAULT_PORT, SimulatorServer


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulator",
        help="run the local payer simulator (CAQH CORE MIME and SOAP on loopback)",
        description="Answer 270s with 271s built from a plan book, with fault injection.",
    )
    parser.add_argument(
        "--port", type=tcp_port, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}"
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument(
        "--plan-book", type=Path, default=None, help=f"plan book YAML (default {DEFAULT_PLAN_BOOK})"
    )
    parser.add_argument(
        "--canned", action="store_true", help="answer every request with one fixed 271"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for fault rates and latency")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        book = load_plan_book(args.plan_book)
    except PlanBookError as exc:
        print(f"cptverify simulator: {exc}", file=sys.stderr)
        return 2
    try:
        server = SimulatorServer(
            book, host=args.host, port=args.port, canned=args.canned, seed=args.seed
        )
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        print(f"cptverify simulator: cannot listen on {args.host}:{args.port} ({reason})",
              file=sys.stderr)  # fmt: skip
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    mode = " in canned mode" if args.canned else ""
    print(
        f"payer simulator listening on {server.url}{mode} ({len(book.payers)} payers: "
        f"{', '.join(book.payers)}); metrics at {server.url}/metrics; Ctrl-C to stop",
        flush=True,
    )
    stop.wait()
    server.stop()
    print("payer simulator stopped", flush=True)
    return 0
