"""The payer simulator: a loopback HTTP server speaking both CAQH CORE real-time transports.

POST /core/mime (multipart form) or /core/soap (SOAP 1.2): the envelope's ReceiverID picks the
plan-book payer; the 270 is read with the project's reader and answered with a 271 built from the
plan book (or one fixed 271 in canned mode). Faults come from the payer's plan-book settings or
from a per-request header `X-Cptverify-Fault: NAME`. GET /metrics gives request counts and peak
concurrent requests per payer (DELETE /metrics resets them); GET /health says ok.
"""

from __future__ import annotations

import json
import random
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cptverify.payers import mime, soap
from cptverify.payers.core import (
    CORE_RULE_VERSION,
    PAYLOAD_TYPE_270,
    PAYLOAD_TYPE_271,
    PROCESSING_MODE,
    SUCCESS,
    EnvelopeError,
    core_timestamp,
)
from cptverify.payers.credentials import SIMULATOR_PASSWORD, SIMULATOR_USERNAME
from cptverify.x12.errors import X12Error
from cptverify_local.simulator.planbook import (
    FAULT_NAMES,
    PayerBook,
    PlanBook,
    load_plan_book,
)
from cptverify_local.simulator.request import asked_from_270
from cptverify_local.simulator.writer271 import (
    Asked270,
    AskedGroup,
    AskedPatient,
    AskedProcedure,
    write_271,
    write_aaa_271,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8790
FAULT_HEADER = "X-Cptverify-Fault"
HOLD_HEADER = "X-Cptverify-Hold-Seconds"
LATENCY_HEADER = "X-Cptverify-Latency-Ms"
MAX_BODY_BYTES = 1_000_000
MAX_HANDLER_THREADS = 64
NON_X12_PAYLOAD = "<html><body>Service temporarily unavailable</body></html>"


@dataclass(slots=True)
class PayerCounters:
    requests: int = 0
    in_flight: int = 0
    peak_concurrent: int = 0
    answers: int = 0
    faults: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "in_flight": self.in_flight,
            "peak_concurrent": self.peak_concurrent,
            "answers": self.answers,
            "faults": dict(self.faults),
        }


class SimulatorState:
    """Plan book, counters and the canned answer, shared by every handler thread."""

    def __init__(self, book: PlanBook, *, canned: str | None = None, seed: int | None = None):
        self.book = book
        self.canned = canned
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.counters: dict[str, PayerCounters] = {}
        self.seen: dict[str, int] = {}

    def enter(self, payer_id: str) -> int:
        """Count a request in; returns how many requests this payer had before it."""
        with self.lock:
            c = self.counters.setdefault(payer_id, PayerCounters())
            c.requests += 1
            c.in_flight += 1
            c.peak_concurrent = max(c.peak_concurrent, c.in_flight)
            before = self.seen.get(payer_id, 0)
            self.seen[payer_id] = before + 1
            return before

    def leave(self, payer_id: str, fault: str | None) -> None:
        with self.lock:
            c = self.counters[payer_id]
            c.in_flight -= 1
            if fault:
                c.faults[fault] = c.faults.get(fault, 0) + 1
            else:
                c.answers += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            payers = {k: v.as_dict() for k, v in sorted(self.counters.items())}
            total = sum(v.requests for v in self.counters.values())
        return {"total_requests": total, "payers": payers, "canned": self.canned is not None}

    def reset(self) -> None:
        with self.lock:
            self.counters.clear()
            self.seen.clear()

    def pick_fault(self, payer: PayerBook, header: str | None, before: int) -> str | None:
        if header:
            return header
        faults = payer.faults
        if before < faults.down_first_requests:
            return f"http_{faults.down_status}"
        with self.lock:
            for name in FAULT_NAMES:
                rate = faults.rates.get(name, 0.0)
                if rate and self.random.random() < rate:
                    return name
            latency = faults.latency
            delay = self.random.uniform(latency.min_ms, latency.max_ms) if latency.max_ms else 0
        if delay:
            self.stopping.wait(delay / 1000)
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: SimulatorState) -> None:
        self.state = state
        self.slots = threading.BoundedSemaphore(MAX_HANDLER_THREADS)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.slots.acquire()
        try:
            super().process_request(request, client_address)
        except Exception:
            self.slots.release()
            raise

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timeouts, drops) is normal here; anything else is printed."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY: no 40 ms delayed-ACK stalls on keep-alive
    server: _Server
    server_version = "cptverify-simulator/1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the simulator logs no request lines (they could carry nothing useful)."""

    def _send(
        self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: object) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if self.path == "/metrics":
            self._json(200, self.server.state.snapshot())
        elif self.path == "/health":
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"error": "not found"})

    def do_DELETE(self) -> None:  # noqa: N802
        if self.path == "/metrics":
            self.server.state.reset()
            self._json(200, {"reset": True})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        transport = {"/core/mime": "mime", "/core/soap": "soap"}.get(self.path.split("?")[0])
        length = int(self.headers.get("Content-Length") or 0)
        if transport is None or length <= 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            self._json(404 if transport is None else 413, {"error": "bad request"})
            return
        body = self.rfile.read(length)
        try:
            if transport == "soap":
                fields, username, password = soap.decode_request(body)
            else:
                fields = mime.decode_fields(body, self.headers.get("Content-Type"))
                username, password = fields.get("UserName"), fields.get("Password")
        except EnvelopeError:
            self._envelope(transport, 400, {}, "RequestMalformed", "request envelope unreadable")
            return
        if username != SIMULATOR_USERNAME or password != SIMULATOR_PASSWORD:
            self._envelope(transport, 401, fields, "UnAuthorized", "bad UserName or Password")
            return
        refusal = _envelope_refusal(fields)
        if refusal is not None:
            self._envelope(transport, 200, fields, *refusal)
            return
        state = self.server.state
        payer_id = fields.get("ReceiverID", "")
        payer = state.book.payer(payer_id)
        if payer is None:
            self._envelope(transport, 200, fields, "ReceiverIDInvalid", "unknown ReceiverID")
            return

        before = state.enter(payer_id)
        fault: str | None = None
        try:
            fault = state.pick_fault(payer, self.headers.get(FAULT_HEADER), before)
            extra_latency = self.headers.get(LATENCY_HEADER)
            if extra_latency:
                state.stopping.wait(float(extra_latency) / 1000)
            self._answer(transport, fields, payer_id, payer, fault)
        finally:
            state.leave(payer_id, fault)

    def _answer(
        self,
        transport: str,
        fields: dict[str, str],
        payer_id: str,
        payer: PayerBook,
        fault: str | None,
    ) -> None:
        state = self.server.state
        faults = payer.faults
        retry_after = {"Retry-After": str(faults.retry_after_seconds)}
        if fault == "timeout":
            hold = float(self.headers.get(HOLD_HEADER) or faults.timeout_hold_seconds)
            self._hold(hold)
            self._drop()
            return
        if fault == "drop":
            self._drop()
            return
        if fault in ("http_500", "http_503", "http_429"):
            status = int(fault.removeprefix("http_"))
            extra = retry_after if status in (429, 503) else None
            self.close_connection = status != 429
            self._send(status, b"unavailable\n", "text/plain", extra)
            return
        if fault == "envelope_error":
            self._envelope(transport, 200, fields, "PayloadTypeNotSupported", "refused")
            return
        if fault is not None and fault not in ("aaa42", "aaa80", "truncated", "non_x12"):
            self._json(400, {"error": f"unknown fault {fault[:40]}", "known": list(FAULT_NAMES)})
            return
        if fault == "non_x12":
            self._respond(transport, fields, NON_X12_PAYLOAD)
            return
        if state.canned is not None and fault is None:
            self._respond(transport, fields, state.canned)
            return
        try:
            asked = asked_from_270(fields.get("Payload", ""))
        except (X12Error, IndexError):
            self._envelope(transport, 200, fields, "PayloadInvalid", "270 unreadable")
            return
        if fault in ("aaa42", "aaa80"):
            code, follow_up = ("42", "R") if fault == "aaa42" else ("80", "N")
            delims = payer.habits.delimiters
            self._respond(
                transport, fields, write_aaa_271(asked, payer.name, code, follow_up, delims)
            )
            return
        x12 = write_271(asked, state.book, payer)
        if fault == "truncated":
            x12 = x12[: len(x12) // 2]
        self._respond(transport, fields, x12)

    def _hold(self, seconds: float) -> None:
        """Say nothing for `seconds`, or until the client hangs up or the server stops."""
        deadline = time.monotonic() + seconds
        stopping = self.server.state.stopping
        while not stopping.is_set() and time.monotonic() < deadline:
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return
                except OSError:
                    return
                stopping.wait(0.05)

    def _drop(self) -> None:
        self.close_connection = True
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _response_fields(self, request: dict[str, str], payload: str | None) -> dict[str, str]:
        fields = {
            "PayloadType": PAYLOAD_TYPE_271,
            "ProcessingMode": PROCESSING_MODE,
            "PayloadID": request.get("PayloadID", ""),
            "TimeStamp": core_timestamp(),
            "SenderID": request.get("ReceiverID", ""),
            "ReceiverID": request.get("SenderID", ""),
            "CORERuleVersion": CORE_RULE_VERSION,
        }
        if payload is not None:
            fields["Payload"] = payload
        return fields

    def _respond(self, transport: str, request: dict[str, str], payload: str) -> None:
        fields = self._response_fields(request, payload)
        fields["ErrorCode"] = SUCCESS
        fields["ErrorMessage"] = ""
        self._write_envelope(transport, 200, fields)

    def _envelope(
        self, transport: str, status: int, request: dict[str, str], code: str, message: str
    ) -> None:
        fields = self._response_fields(request, None)
        fields["ErrorCode"] = code
        fields["ErrorMessage"] = message
        self._write_envelope(transport, status, fields)

    def _write_envelope(self, transport: str, status: int, fields: dict[str, str]) -> None:
        if transport == "soap":
            self._send(status, soap.encode_response(fields), soap.CONTENT_TYPE.split(";")[0])
        else:
            body, content_type = mime.encode_fields(fields)
            self._send(status, body, content_type)


def _envelope_refusal(fields: dict[str, str]) -> tuple[str, str] | None:
    if fields.get("PayloadType") != PAYLOAD_TYPE_270:
        return "PayloadTypeNotSupported", "only X12_270_Request_005010X279A1"
    if fields.get("ProcessingMode") != PROCESSING_MODE:
        return "ProcessingModeNotSupported", "only RealTime"
    if fields.get("CORERuleVersion") != CORE_RULE_VERSION:
        return "VersionMismatch", "CORERuleVersion must be 2.2.0"
    if not fields.get("PayloadID"):
        return "PayloadIDRequired", "PayloadID missing"
    if not fields.get("Payload"):
        return "PayloadRequired", "Payload missing"
    return None


def canned_271(book: PlanBook) -> str:
    """One fixed 271 built once from the plan book's first member (canned mode)."""
    payer_id, payer = next(iter(book.payers.items()))
    member = payer.members[0]
    asked = Asked270(
        sender_id="CPTVERIFY",
        receiver_id=payer_id,
        reference="CANNED",
        payer_id=payer_id,
        provider_npi=(payer.providers or book.providers or [""])[0],
        provider_last_name="CANNED",
        groups=[
            AskedGroup(
                AskedPatient(
                    dependent=False,
                    member_id=member.member_id,
                    last_name=member.last_name,
                    first_name=member.first_name,
                    birth_date=member.birth_date,
                    gender=member.gender,
                    traces=[("CANNED", "9CPTVERIFY")],
                    procedures=[AskedProcedure("HC", "99213")],
                )
            )
        ],
    )
    return write_271(asked, book, payer)


class SimulatorServer:
    """A running simulator: `url`, `port`, `metrics()`, `reset()`, `stop()`."""

    def __init__(
        self,
        book: PlanBook,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        canned: bool | str = False,
        seed: int | None = None,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the simulator listens on loopback only")
        canned_text = canned if isinstance(canned, str) else (canned_271(book) if canned else None)
        self.state = SimulatorState(book, canned=canned_text, seed=seed)
        self.httpd = _Server((host, port), self.state)
        self.host = host
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self.state.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def metrics(self) -> dict[str, Any]:
        return self.state.snapshot()

    def reset(self) -> None:
        self.state.reset()


@contextmanager
def running_simulator(
    plan_book: str | Path | PlanBook | None = None,
    *,
    port: int = 0,
    canned: bool | str = False,
    seed: int | None = 7,
) -> Iterator[SimulatorServer]:
    """Start the simulator on loopback (a free port by default) for the `with` block."""
    book = plan_book if isinstance(plan_book, PlanBook) else load_plan_book(plan_book)
    server = SimulatorServer(book, port=port, canned=canned, seed=seed).start()
    try:
        yield server
    finally:
        server.stop()


def wait_until_up(url: str, timeout: float = 5.0) -> None:
    """Poll GET /health until it answers (for scripts that start the simulator elsewhere)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
