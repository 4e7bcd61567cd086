"""Outcomes of one payer call that are not an answer, as typed exceptions.

The class names are the error names the state machine retries on (`ErrorEquals`), so they are
stable. Each carries `retryable` (can a later attempt help?) and `least_delay_seconds` (do not
try again sooner). Messages carry codes and ids only: never names, member ids, dates of birth or
X12 text, so they are safe in logs, traces, Step Functions history and API error bodies.

| Error              | retryable | least delay                                      |
|--------------------|-----------|--------------------------------------------------|
| `PayerTimeout`     | yes       | 90 s (CORE: no resend sooner than 90 s)          |
| `PayerUnavailable` | yes       | Retry-After, time left on an open circuit, or 30 |
| `PayerBusy`        | yes*      | by AAA04: Y 60, R/P 30, N 300 (* W/X: no)        |
| `PayerRejected`    | no        | 0                                                |
| `ResponseInvalid`  | yes       | 30                                               |
| `PayerThrottled`   | yes       | 1 (the pacing lease was full)                    |
"""

from __future__ import annotations

CORE_TIMEOUT_RESEND_SECONDS = 90
DEFAULT_UNAVAILABLE_DELAY_SECONDS = 30
DEFAULT_INVALID_DELAY_SECONDS = 30

# AAA04 follow-up action -> least delay in seconds before another attempt (None: do not retry).
BUSY_DELAY_BY_FOLLOW_UP: dict[str, int | None] = {
    "Y": 60,  # do not resubmit, we will hold and respond again shortly: come back after a minute
    "R": 30,  # resubmission allowed
    "P": 30,  # please resubmit original transaction
    "C": 30,  # please correct and resubmit (for 42/80 nothing to correct)
    "N": 300,  # resubmission not allowed: read as "wait a few minutes", not "never"
    "S": None,  # inquiry initiated to a third party: do not resubmit
    "W": None,  # wait 30 days
    "X": None,  # wait 10 days
}
DEFAULT_BUSY_DELAY_SECONDS = 60


class PayerError(Exception):
    """Base of every payer-call outcome that is not a readable 271 answer."""

    retryable: bool = True
    least_delay_seconds: float = 0

    def __init__(
        self,
        message: str,
        *,
        payer_id: str | None = None,
        code: str | None = None,
        retryable: bool | None = None,
        least_delay_seconds: float | None = None,
        payload_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.payer_id = payer_id
        self.code = code
        self.payload_id = payload_id
        self.http_status = http_status
        if retryable is not None:
            self.retryable = retryable
        if least_delay_seconds is not None:
            self.least_delay_seconds = least_delay_seconds
        prefix = f"payer {payer_id}: " if payer_id else ""
        super().__init__(prefix + message)

    @property
    def error_name(self) -> str:
        """The stable name the state machine matches on."""
        return type(self).__name__

    def to_dict(self) -> dict[str, object]:
        """A log- and API-safe description (codes and ids only)."""
        return {
            "error": self.error_name,
            "message": str(self),
            "payer_id": self.payer_id,
            "code": self.code,
            "retryable": self.retryable,
            "least_delay_seconds": self.least_delay_seconds,
            "payload_id": self.payload_id,
            "http_status": self.http_status,
        }


class PayerTimeout(PayerError):
    """No answer within the payer's connect or read timeout."""

    retryable = True
    least_delay_seconds = CORE_TIMEOUT_RESEND_SECONDS


class PayerUnavailable(PayerError):
    """Refused or reset connection, TLS failure, HTTP 5xx or 429, or an open circuit."""

    retryable = True
    least_delay_seconds = DEFAULT_UNAVAILABLE_DELAY_SECONDS


class PayerBusy(PayerError):
    """A 271 with AAA 42 (payer cannot answer now) or 80 (an intermediary got no answer)."""

    retryable = True
    least_delay_seconds = DEFAULT_BUSY_DELAY_SECONDS

    @classmethod
    def from_aaa(
        cls, reason: str, follow_up: str | None, *, payer_id: str | None = None, **kw: object
    ) -> PayerBusy:
        """Build from AAA03 and AAA04; AAA04 refines whether and when to try again."""
        delay = BUSY_DELAY_BY_FOLLOW_UP.get(follow_up or "", DEFAULT_BUSY_DELAY_SECONDS)
        return cls(
            f"271 says busy: AAA03 {reason}, AAA04 {follow_up or '-'}",
            payer_id=payer_id,
            code=reason,
            retryable=delay is not None,
            least_delay_seconds=delay if delay is not None else 0,
            **kw,  # type: ignore[arg-type]
        )


class PayerRejected(PayerError):
    """The CORE envelope was refused (ErrorCode other than Success) and no 271 came back."""

    retryable = False
    least_delay_seconds = 0


class ResponseInvalid(PayerError):
    """The payload is not a readable 271, or its TRN does not answer the 270 we sent."""

    retryable = True
    least_delay_seconds = DEFAULT_INVALID_DELAY_SECONDS


class PayerThrottled(PayerError):
    """The per-payer pacing lease is full; the call was not made."""

    retryable = True
    least_delay_seconds = 1


class PayerConfigError(Exception):
    """The payer registry or a payer's settings are invalid (a deployment problem, not retried).

    Messages name the payer and the field.
    """


RETRYABLE_ERROR_NAMES = (
    "PayerTimeout",
    "PayerUnavailable",
    "PayerBusy",
    "ResponseInvalid",
    "PayerThrottled",
)
ALL_ERROR_NAMES = (*RETRYABLE_ERROR_NAMES, "PayerRejected")
