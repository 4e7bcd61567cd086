"""Inquiry statuses and the rules for moving between them.

PENDING -> IN_PROGRESS -> one terminal status:
COMPLETED (the payer answered; each CPT carries its own status), REJECTED (the payer refused the
patient or the provider; resubmittable), FAILED (transport or payer trouble after every retry).
A terminal status is never overwritten.
"""

from __future__ import annotations

from typing import Literal

Status = Literal["PENDING", "IN_PROGRESS", "COMPLETED", "REJECTED", "FAILED"]
Mode = Literal["realtime", "batch"]

PENDING: Status = "PENDING"
IN_PROGRESS: Status = "IN_PROGRESS"
COMPLETED: Status = "COMPLETED"
REJECTED: Status = "REJECTED"
FAILED: Status = "FAILED"

OPEN_STATUSES: tuple[Status, ...] = (PENDING, IN_PROGRESS)
TERMINAL_STATUSES: tuple[Status, ...] = (COMPLETED, REJECTED, FAILED)

# Data-free reasons recorded with FAILED, by the error name the state machine caught.
FAILURE_REASONS: dict[str, str] = {
    "PayerTimeout": "the payer did not answer in time, after every retry",
    "PayerUnavailable": "the payer could not be reached, after every retry",
    "PayerBusy": "the payer was busy, after every retry",
    "PayerBusyNoResubmit": "the payer was busy and asked not to resubmit for now",
    "PayerThrottled": "no pacing lease for the payer became free, after every retry",
    "PayerRejected": "the payer refused the request envelope",
    "ResponseInvalid": "the payer's answer was not a readable 271 for this inquiry",
    "PayerConfigError": "the payer is not configured for this deployment",
    "InquiryInvalid": "the stored inquiry could not be read",
    "InquiryNotBuildable": "the inquiry cannot be written as a 270 with the payer's settings",
    "States.Timeout": "a step ran out of time",
    "ExecutionNotStarted": "the workflow could not be started; submit the inquiry again",
    "UnexpectedOutcome": "a step returned an outcome the workflow does not know",
}
DEFAULT_FAILURE_REASON = "an unexpected error stopped the inquiry"


def is_terminal(status: str | None) -> bool:
    return status in TERMINAL_STATUSES


def failure_reason(error_name: str | None) -> str:
    """A reason for FAILED that names what went wrong and carries no patient data."""
    return FAILURE_REASONS.get(error_name or "", DEFAULT_FAILURE_REASON)
