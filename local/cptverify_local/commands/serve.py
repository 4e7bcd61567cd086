"""`cptverify serve [--port 3000]`: the partner API of the embedded stack on loopback.

Each HTTP request becomes the REST proxy event API Gateway sends our API function, after the
API key check a usage plan would make. Runs until interrupted; then stops the stack, the payer
simulator and the server, leaving nothing running.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from cptverify_local.ports import tcp_port
from cptverify_local.stack.parts import BATCH_PARTS, missing

DEFAULT_PORT = 3000


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the partner API of the embedded stack on 127.0.0.1",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--port", type=tcp_port, default=DEFAULT_PORT, help="port (default 3000)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    """Serve until Ctrl-C (or until `stop` is set, for tests)."""
    from cptverify_local.stack.api import build_local_api
    from cptverify_local.stack.embedded import StackPartsMissing, embedded_stack
    from cptverify_local.stack.http_api import LocalApiServer

    try:
        with embedded_stack() as stack:
            try:
                server = LocalApiServer(build_local_api(stack), port=args.port).start()
            except OSError as exc:
                print(
                    f"cptverify serve: cannot listen on port {args.port}: {exc.strerror}",
                    file=sys.stderr,
                )
                return 2
            stop = stop or _stop_on_signals()
            try:
                _announce(stack, server.url)
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            finally:
                server.stop()
    except StackPartsMissing as exc:
        print(f"cptverify serve: cannot run yet, {exc}", file=sys.stderr)
        return 2
    print("cptverify serve: stopped", file=sys.stderr)
    return 0


def _stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM, so either stops the stack cleanly."""
    stop = threading.Event()

    def handle(signum: int, frame: Any) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handle)
    return stop


def _announce(stack: Any, url: str) -> None:
    absent = missing(BATCH_PARTS)
    lines = [
        f"cptverify API on {url} (stage {stack.aws.parameters.get('Stage')}), tenant "
        f"'{stack.tenant}'",
        f"  API key:         {stack.api_key}   (header x-api-key)",
        f"  payer simulator: {stack.simulator.url}",
        "  local only:      PUT /local/schedules/{name} stores a schedule for your tenant",
        "                   GET /local/archive/{key} returns a batch report (linked by the batch)",
        "  not created locally:",
        *[f"    - {line}" for line in stack.skipped_lines()],
    ]
    if absent:
        lines.append("  schedule batches unavailable, missing: " + "; ".join(absent))
    lines.append("Ctrl-C stops everything.")
    print("\n".join(lines), file=sys.stderr, flush=True)
