"""Send one 270 to a payer over CAQH CORE connectivity and get back its 271.

`PayerConnector.exchange` does the transport only (envelope, HTTP, envelope answer) and returns an
`Exchange` with the 271 text, payload id, HTTP status and timings. `PayerConnector.send` also
reads the 271 and decides the outcome: AAA 42 or 80 anywhere -> `PayerBusy`; an unreadable 271 or
one whose TRN does not answer our 270 -> `ResponseInvalid`. A 271 that rejects the patient or the
provider (AAA 72, 73, 75, 51, ...) is an answer: it is returned, with its AAAs in
`Exchange.rejections`.

One httpx client per payer (`get_connector`), TLS verification always on, plain http only to
loopback, connect/read timeouts and the pool size from the payer registry.
"""

from __future__ import annotations

import email.utils
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from cptverify.observability import logger
from cptverify.payers import mime, soap
from cptverify.payers.circuit import CircuitBreaker, CircuitStore, MemoryCircuitStore
from cptverify.payers.core import (
    PAYLOAD_TYPE_271,
    REQUEST_FIELDS,
    SUCCESS,
    CoreRequest,
    EnvelopeError,
)
from cptverify.payers.credentials import Credentials, get_credentials
from cptverify.payers.errors import (
    PayerBusy,
    PayerError,
    PayerRejected,
    PayerTimeout,
    PayerUnavailable,
    ResponseInvalid,
)
from cptverify.payers.metrics import PayerMetrics, default_payer_metrics
from cptverify.payers.registry import PayerConfig, check_url, get_payer

if TYPE_CHECKING:
    from cptverify.x12.model import Aaa, Interchange

BUSY_CODES = frozenset({"42", "80"})
# Reader warnings that mean the answer was cut off: a real-time 271 must arrive whole.
TRUNCATION_WARNINGS = frozenset({"se_missing", "ge_missing", "iea_missing"})
FAULT_HEADER = "X-Cptverify-Fault"
# 4xx answers that say "not now" rather than "never": request timeout, too early, too many.
TRANSIENT_HTTP_STATUSES = frozenset({408, 425, 429})
# The longest wait a payer's Retry-After can ask for (the state machine caps it lower still).
MAX_RETRY_AFTER_SECONDS = 24 * 3600.0
_DELTA_SECONDS_RE = re.compile(r"[0-9]+")
# CORE real-time envelope ErrorCodes (connectivity rule vC2.2.0) and our names for SOAP 1.2 faults.
KNOWN_ERROR_CODES = frozenset(
    {
        *(f"{field}Required" for field in REQUEST_FIELDS),
        "PayloadTypeNotSupported",
        "ProcessingModeNotSupported",
        "VersionMismatch",
        "UnAuthorized",
        "Unauthorized",
        "PayloadInvalid",
        "ReceiverIDInvalid",
        "SenderIDInvalid",
        *(
            f"SOAPFault.{code}"
            for code in (
                "Sender",
                "Receiver",
                "VersionMismatch",
                "MustUnderstand",
                "DataEncodingUnknown",
                "Unknown",
            )
        ),
    }
)


@dataclass(slots=True)
class Exchange:
    """One request/response with a payer: the 271 text and the transport facts."""

    payer_id: str
    transport: str
    payload_id: str
    http_status: int
    payload: str
    response_payload_id: str | None = None
    envelope_ms: float = 0.0
    http_ms: float = 0.0
    read_ms: float = 0.0
    total_ms: float = 0.0
    interchange: Interchange | None = None
    rejections: list[Aaa] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        """True when the payer answered but rejected the patient or the provider."""
        return bool(self.rejections)

    def facts(self) -> dict[str, object]:
        """Log-safe transport facts (no payload)."""
        return {
            "payer_id": self.payer_id,
            "transport": self.transport,
            "payload_id": self.payload_id,
            "http_status": self.http_status,
            "envelope_ms": round(self.envelope_ms, 3),
            "http_ms": round(self.http_ms, 3),
            "read_ms": round(self.read_ms, 3),
            "total_ms": round(self.total_ms, 3),
            "aaa_codes": [a.code for a in self.rejections],
        }


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable.

    Payer-written, so untrusted: only ASCII digits count as delta-seconds, and any value is
    clamped to `MAX_RETRY_AFTER_SECONDS` (a 400-digit number or a year-9999 date stays finite).
    """
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS_RE.fullmatch(value):
        seconds = float(value[:12])
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
            seconds = when.timestamp() - (now if now is not None else time.time())
        except (TypeError, ValueError, OverflowError, OSError):
            return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)


def envelope_error_code(value: str) -> str:
    """A refusal's ErrorCode as we may repeat it: a known CORE or SOAP code, else `Unrecognised`.

    The payer writes this field; only names from the fixed vocabularies reach messages, logs and
    Step Functions history, so a payer that puts member data in it cannot leak it through us.
    """
    return value if value in KNOWN_ERROR_CODES else "Unrecognised"


def trace_numbers_270(x12_270: str) -> list[str]:
    """The TRN*1 trace numbers our 270 sent (the 271 must echo them as TRN*2)."""
    from cptverify.x12.segments import tokenize

    segments = tokenize(x12_270).segments
    return [s[2] for s in segments if s[0] == "TRN" and len(s) > 2 and s[1] == "1"]


def all_aaa(interchange: Interchange) -> list[Aaa]:
    found: list[Aaa] = []
    for txn in interchange.transactions:
        found += txn.errors
        for patient in txn.patients:
            found += patient.errors
            for benefit in patient.benefits:
                found += benefit.errors
    return found


# Limitation: client-certificate private keys must be unencrypted PEM (no key password).
def _ssl_context(payer: PayerConfig) -> ssl.SSLContext | bool:
    if payer.client_certificate is None:
        return True
    context = ssl.create_default_context()
    context.load_cert_chain(payer.client_certificate.cert_file, payer.client_certificate.key_file)
    return context


class PayerConnector:
    """Talks to one payer. Thread-safe; reuse it (one httpx client and pool per payer)."""

    def __init__(
        self,
        payer: PayerConfig,
        *,
        credentials: Credentials | None = None,
        circuit_store: CircuitStore | None = None,
        clock: Callable[[], float] = time.time,
        metrics: PayerMetrics | None = None,
        base_url: str | None = None,
        http_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.payer = payer
        self.url = check_url(payer.url(base_url))
        self.credentials = credentials or get_credentials(payer)
        self.circuit = CircuitBreaker(
            payer.id, payer.circuit, circuit_store or MemoryCircuitStore(), clock
        )
        self.metrics = metrics or default_payer_metrics()
        # One random multipart boundary per connector: 128 random bits never occur in a payload,
        # and a stable Content-Type is cheaper for the receiver's header parsing.
        self._boundary = "cptverify" + uuid.uuid4().hex
        self.client = httpx.Client(
            verify=_ssl_context(payer),
            timeout=httpx.Timeout(
                payer.read_timeout_seconds,
                connect=payer.connect_timeout_seconds,
                pool=payer.read_timeout_seconds,
            ),
            limits=httpx.Limits(
                max_connections=payer.max_concurrent_requests,
                max_keepalive_connections=payer.max_concurrent_requests,
            ),
            trust_env=False,
            transport=http_transport,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> PayerConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _encode(self, x12_270: str) -> tuple[CoreRequest, bytes, str]:
        request = CoreRequest(
            payload=x12_270,
            sender_id=self.payer.sender_id,
            receiver_id=self.payer.receiver_id,
            username=self.credentials.username,
            password=self.credentials.password,
        )
        if self.payer.transport == "soap":
            body, content_type = soap.encode_request(request)
        else:
            body, content_type = mime.encode_request(request, self._boundary)
        return request, body, content_type

    def exchange(self, x12_270: str, *, headers: Mapping[str, str] | None = None) -> Exchange:
        """Post one 270 and return the 271 text; transport outcomes raise `PayerError`s.

        Does not read the 271 and does not touch the circuit (see `send`).
        """
        pid = self.payer.id
        started = time.perf_counter()
        request, body, content_type = self._encode(x12_270)
        encoded = time.perf_counter()
        send_headers = {"Content-Type": content_type}
        if headers:
            send_headers.update(headers)
        facts: dict[str, Any] = {"payer_id": pid, "payload_id": request.payload_id}
        # Limitation: the answer is read whole, with no size cap; a payer that streams gigabytes
        # exhausts the function's memory (the workflow then records FAILED with a generic reason).
        try:
            response = self.client.post(self.url, content=body, headers=send_headers)
        except httpx.ConnectTimeout:
            raise PayerUnavailable("connect timeout", code="connect_timeout", **facts) from None
        except httpx.TimeoutException:
            raise PayerTimeout("no answer within the timeout", code="timeout", **facts) from None
        except httpx.ConnectError as exc:
            code = "tls" if isinstance(exc.__cause__, ssl.SSLError) or "SSL" in str(exc) else None
            raise PayerUnavailable(
                "connection failed", code=code or "connect_error", **facts
            ) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            raise PayerUnavailable(
                "connection dropped", code="connection_dropped", **facts
            ) from None
        except httpx.DecodingError:
            # The body does not decode as its Content-Encoding says (a broken gzip, say).
            raise ResponseInvalid(
                "response body does not decode", code="content_encoding", **facts
            ) from None
        except httpx.RequestError:
            raise PayerUnavailable("transport error", code="transport_error", **facts) from None
        answered = time.perf_counter()

        status = response.status_code
        if status in TRANSIENT_HTTP_STATUSES or status >= 500:
            delay = retry_after_seconds(response.headers.get("Retry-After"))
            raise PayerUnavailable(
                f"HTTP {status}",
                code=f"http_{status}",
                least_delay_seconds=delay,
                http_status=status,
                **facts,
            )
        soap_answer = self.payer.transport == "soap" and status in (400, 500)
        if status != 200 and not soap_answer:
            raise PayerRejected(
                f"HTTP {status}", code=f"http_{status}", http_status=status, **facts
            )
        try:
            if self.payer.transport == "soap":
                envelope = soap.decode_response(response.content)
            else:
                envelope = mime.decode_response(
                    response.content, response.headers.get("Content-Type")
                )
        except EnvelopeError as exc:
            raise ResponseInvalid(str(exc), code="envelope", http_status=status, **facts) from None
        error_code = envelope.error_code
        if error_code and error_code != SUCCESS:
            code = envelope_error_code(error_code)
            raise PayerRejected(
                f"CORE envelope refused: ErrorCode {code}",
                code=code,
                http_status=status,
                **facts,
            )
        # Limitation: the response PayloadID is recorded but not compared with ours; the TRN
        # check in `read` is what ties a 271 to our 270.
        if envelope.payload is None or not envelope.payload.strip():
            raise ResponseInvalid("envelope carries no payload", code="no_payload", **facts)
        if envelope.payload_type and envelope.payload_type != PAYLOAD_TYPE_271:
            raise ResponseInvalid(
                "payload type is not a 271",
                code="payload_type",
                **facts,
            )
        done = time.perf_counter()
        return Exchange(
            payer_id=pid,
            transport=self.payer.transport,
            payload_id=request.payload_id,
            http_status=status,
            payload=envelope.payload,
            response_payload_id=envelope.payload_id,
            envelope_ms=((encoded - started) + (done - answered)) * 1000,
            http_ms=(answered - encoded) * 1000,
            total_ms=(done - started) * 1000,
        )

    def read(self, exchange: Exchange, expected_traces: list[str] | None) -> Exchange:
        """Read the 271 of an exchange and decide busy / invalid / answer."""
        from cptverify.x12.errors import X12Error
        from cptverify.x12.reader271 import read_271

        facts: dict[str, Any] = {"payer_id": exchange.payer_id, "payload_id": exchange.payload_id}
        started = time.perf_counter()
        try:
            interchange = read_271(exchange.payload)
        except X12Error as exc:
            raise ResponseInvalid(
                f"payload is not a readable 271 ({exc.code})", code=str(exc.code), **facts
            ) from None
        exchange.read_ms = (time.perf_counter() - started) * 1000
        if any(w.code in TRUNCATION_WARNINGS for w in interchange.warnings):
            raise ResponseInvalid("271 is cut off (no closing trailer)", code="truncated", **facts)
        if not interchange.transactions:
            raise ResponseInvalid("payload holds no 271 transaction", code="no_271", **facts)

        aaas = all_aaa(interchange)
        busy = next((a for a in aaas if a.code in BUSY_CODES), None)
        if busy is not None:
            raise PayerBusy.from_aaa(busy.code or "", busy.follow_up, **facts)

        if expected_traces:
            echoed = [
                t.number
                for txn in interchange.transactions
                for patient in txn.patients
                for t in patient.traces
                if t.type == "2"
            ]
            # A 271 that names a patient must echo our trace: one without TRN*2 could be about
            # anyone. (A refusal at the payer or provider level names no patient and no TRN.)
            names_patient = any(txn.patients for txn in interchange.transactions)
            if (names_patient and not echoed) or any(n not in expected_traces for n in echoed):
                raise ResponseInvalid("271 TRN does not answer our 270", code="trn", **facts)
        exchange.interchange = interchange
        exchange.rejections = aaas
        return exchange

    def send(
        self,
        x12_270: str,
        *,
        expected_traces: list[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Exchange:
        """Send one 270 and read its 271; honours and feeds this payer's circuit breaker.

        Returns the `Exchange` (with `interchange` and any patient/provider `rejections`), or
        raises `PayerTimeout`, `PayerUnavailable`, `PayerBusy`, `PayerRejected`,
        `ResponseInvalid`.
        """
        self.circuit.check()
        traces = expected_traces if expected_traces is not None else trace_numbers_270(x12_270)
        started = time.perf_counter()
        outcome = "answer"
        aaa_codes: list[str] = []
        try:
            exchange = self.read(self.exchange(x12_270, headers=headers), traces)
            aaa_codes = [a.code or "" for a in exchange.rejections]
            if exchange.rejected:
                outcome = "rejection"
            self.circuit.success()
            return exchange
        except PayerError as exc:
            outcome = exc.error_name
            if isinstance(exc, PayerBusy) and exc.code:
                aaa_codes = [exc.code]
            if isinstance(exc, PayerTimeout | PayerUnavailable | PayerBusy):
                state = self.circuit.failure()
                logger.info(
                    "payer circuit failure recorded",
                    extra={"payer_id": self.payer.id, "failures": state.failures},
                )
            raise
        except Exception:
            outcome = "unexpected_error"
            raise
        finally:
            latency = (time.perf_counter() - started) * 1000
            self.metrics.record_call(self.payer.id, outcome, latency, aaa_codes)
            logger.info(
                "payer call finished",
                extra={
                    "payer_id": self.payer.id,
                    "outcome": outcome,
                    "latency_ms": round(latency, 1),
                },
            )


_connectors: dict[str, PayerConnector] = {}
_connectors_lock = threading.Lock()


def get_connector(payer_id: str, *, circuit_store: CircuitStore | None = None) -> PayerConnector:
    """The process-wide connector for a payer (one reused httpx client per payer)."""
    with _connectors_lock:
        connector = _connectors.get(payer_id)
        if connector is None:
            connector = PayerConnector(get_payer(payer_id), circuit_store=circuit_store)
            _connectors[payer_id] = connector
        return connector


def reset_connectors() -> None:
    """Close and forget every process-wide connector (after the registry or base URL changed)."""
    with _connectors_lock:
        for connector in _connectors.values():
            connector.close()
        _connectors.clear()
