"""The archive bucket: inquiry requests and the raw 270/271 of every exchange (KMS-encrypted).

Keys hold ids only: `inquiries/<tenant>/<inquiry id>/request.json`,
`inquiries/<tenant>/<inquiry id>/attempt-<n>/<part>.270` and `.271`.
"""

from __future__ import annotations

from cptverify.aws import clients
from cptverify.aws.settings import settings


def inquiry_prefix(tenant: str, inquiry_id: str) -> str:
    return f"inquiries/{tenant}/{inquiry_id}/"


def request_key(tenant: str, inquiry_id: str) -> str:
    return inquiry_prefix(tenant, inquiry_id) + "request.json"


def exchange_key(tenant: str, inquiry_id: str, attempt: int, part: int, kind: str) -> str:
    return inquiry_prefix(tenant, inquiry_id) + f"attempt-{attempt}/{part}.{kind}"


def put_text(key: str, text: str, content_type: str = "application/edi-x12") -> None:
    clients.s3().put_object(
        Bucket=settings().archive_bucket,
        Key=key,
        Body=text.encode("utf-8"),
        ContentType=content_type,
        ServerSideEncryption="aws:kms",
    )


def get_text(key: str) -> str:
    response = clients.s3().get_object(Bucket=settings().archive_bucket, Key=key)
    return str(response["Body"].read().decode("utf-8"))
