"""Named domain errors of the inquiry service (mapped to HTTP in `cptverify.api.errors`)."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of the service's own errors; messages carry ids and field names only."""


class NotFound(ServiceError):
    """The tenant has no such inquiry, claim or procedure."""


class UnknownPayer(ServiceError):
    """The inquiry names a payer the payer registry does not list (field `payer.id`)."""

    field = "payer.id"
    rule = "not a payer this service is set up for (see the payer registry)"

    def __init__(self) -> None:
        super().__init__(f"{self.field}: {self.rule}")


class Conflict(ServiceError):
    """The request cannot apply in the current state (e.g. resubmitting a completed inquiry)."""


class InvalidInput(ServiceError):
    """Input that fails a rule outside the request model; `field` names where."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class PayloadTooLarge(ServiceError):
    """The request body is larger than the route accepts."""


class Unauthenticated(ServiceError):
    """No API key identity on the request."""


class Forbidden(ServiceError):
    """The API key is not bound to a tenant."""


class InquiryInvalid(ServiceError):
    """The stored request of an inquiry no longer validates (raised in a state machine task)."""
