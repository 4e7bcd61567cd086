"""Key shapes of the single table (see the comment above `DataTable` in template.yaml)."""

from __future__ import annotations

INQUIRY_SK = "INQUIRY"
BATCH_SK = "BATCH"
LEASE_SK = "LEASE"
CIRCUIT_SK = "CIRCUIT"
FRESH_SK = "FRESH"
TENANT_SK = "TENANT"
IDEMPOTENCY_PK = "IDEMPOTENCY"
INQUIRY_RESULT_PREFIX = "RESULT#"
GSI1 = "gsi1"


def inquiry_pk(tenant: str, inquiry_id: str) -> str:
    return f"TENANT#{tenant}#INQUIRY#{inquiry_id}"


def claim_pk(tenant: str, claim_id: str) -> str:
    return f"TENANT#{tenant}#CLAIM#{claim_id}"


def result_sk(code: str, modifiers: list[str] | tuple[str, ...], line: int) -> str:
    mods = ":".join(modifiers) if modifiers else "-"
    return f"CPT#{code}#MOD#{mods}#LINE#{line}"


def inquiry_result_sk(claim_id: str, result_sk: str) -> str:
    """An inquiry's own copy of a result, in the inquiry's partition."""
    return f"{INQUIRY_RESULT_PREFIX}CLAIM#{claim_id}#{result_sk}"


def result_sk_prefix(code: str) -> str:
    return f"CPT#{code}#"


def batch_pk(tenant: str, batch_id: str) -> str:
    return f"TENANT#{tenant}#BATCH#{batch_id}"


def payer_pk(payer_id: str) -> str:
    return f"PAYER#{payer_id}"


def freshness_pk(tenant: str, digest: str) -> str:
    return f"TENANT#{tenant}#FRESH#{digest}"


def api_key_pk(api_key_id: str) -> str:
    return f"APIKEY#{api_key_id}"


def status_gsi1pk(status: str) -> str:
    return f"STATUS#{status}"


def status_gsi1sk(day: str, inquiry_id: str) -> str:
    return f"{day}#{inquiry_id}"
