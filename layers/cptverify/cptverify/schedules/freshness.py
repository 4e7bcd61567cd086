"""Freshness: reuse a recent answer for the same visit instead of calling the payer again.

A patient verified with a payer for a date of service and a provider stays "fresh" for a window
(`RESULT_FRESHNESS_HOURS`, 24 by default). The lookup key is an HMAC-SHA256 of the identity fields
(payer, member id, patient names and birth date, relationship, date of service, provider NPI)
under a secret, so the table never holds those values in a key. The secret is read from
`CPTVERIFY_FRESHNESS_SECRET` when set (local runs and tests), else from the Secrets Manager secret
named by `FRESHNESS_SECRET_NAME` through Powertools parameters (cached).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any

DEFAULT_WINDOW_HOURS = 24


class FreshnessSecretMissing(Exception):
    """Neither a local secret nor a secret name is configured."""


def freshness_key(secret: bytes, tenant: str, identity: tuple[str, ...]) -> str:
    """Hex HMAC-SHA256 of the tenant and the folded identity fields (never the raw values)."""
    message = "\x1f".join((tenant, *identity)).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def load_secret() -> bytes:
    """The HMAC secret: the local environment value, else the deployed Secrets Manager secret."""
    local = os.environ.get("CPTVERIFY_FRESHNESS_SECRET")
    if local:
        return local.encode()
    name = os.environ.get("FRESHNESS_SECRET_NAME")
    if not name:
        raise FreshnessSecretMissing("set FRESHNESS_SECRET_NAME or CPTVERIFY_FRESHNESS_SECRET")
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(name, max_age=300)
    return value.encode() if isinstance(value, str) else bytes(value)


def window_seconds() -> int:
    """The freshness window in seconds, from `RESULT_FRESHNESS_HOURS` (0 turns reuse off)."""
    hours = float(os.environ.get("RESULT_FRESHNESS_HOURS", DEFAULT_WINDOW_HOURS))
    return max(0, int(hours * 3600))


def fresh_keys(tenant: str, key: str) -> dict[str, str]:
    return {"pk": f"TENANT#{tenant}#FRESH#{key}", "sk": "FRESH"}


@dataclass(frozen=True, slots=True)
class FreshAnswer:
    """Where the archived 271 of a recent verification lies, and when it was read."""

    inquiry_id: str
    response_key: str
    verified_at: int

    def is_fresh(self, now: int, window: int) -> bool:
        return window > 0 and now - self.verified_at <= window


def fresh_item(tenant: str, key: str, answer: FreshAnswer, window: int) -> dict[str, Any]:
    """The table item remembering a verification (TTL at the end of the window)."""
    return {
        **fresh_keys(tenant, key),
        "inquiry_id": answer.inquiry_id,
        "response_key": answer.response_key,
        "verified_at": answer.verified_at,
        "expires_at": answer.verified_at + window,
    }


def answer_from_item(item: dict[str, Any]) -> FreshAnswer:
    return FreshAnswer(
        inquiry_id=str(item["inquiry_id"]),
        response_key=str(item["response_key"]),
        verified_at=int(item["verified_at"]),
    )
