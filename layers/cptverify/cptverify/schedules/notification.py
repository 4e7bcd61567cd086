"""The S3 `ObjectCreated` notification, as AWS sends it and as moto sends it (and via EventBridge).

AWS records carry `userIdentity`, `requestParameters`, `responseElements` and
`bucket.ownerIdentity`; moto's omit them, and Powertools' `S3Model` requires them. This model reads
only what ingest needs (bucket, key, version id, ETag, sequencer), so both shapes parse. The key
stays URL-encoded here; `ingest.upload_from_object` decodes it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class S3Bucket(_Lenient):
    name: str


class S3Object(_Lenient):
    key: str
    size: int | None = None
    version_id: str | None = Field(default=None, alias="versionId")
    e_tag: str | None = Field(default=None, alias="eTag")
    sequencer: str | None = None


class S3Entity(_Lenient):
    bucket: S3Bucket
    object: S3Object


class S3Record(_Lenient):
    event_source: str = Field(default="aws:s3", alias="eventSource")
    event_name: str = Field(alias="eventName")
    s3: S3Entity

    @property
    def version(self) -> str:
        """What identifies this object version: its version id, else ETag and sequencer."""
        obj = self.s3.object
        if obj.version_id:
            return f"v:{obj.version_id}"
        return f"e:{obj.e_tag or ''}:{obj.sequencer or ''}"


class S3Notification(_Lenient):
    records: list[S3Record] = Field(default_factory=list, alias="Records")


class _BridgeObject(_Lenient):
    key: str
    version_id: str | None = Field(default=None, alias="version-id")
    etag: str | None = None
    sequencer: str | None = None


class _BridgeDetail(_Lenient):
    bucket: S3Bucket
    object: _BridgeObject


def created_objects(event: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(bucket, URL-encoded key, version) of each created object the event names.

    Reads an S3 notification (AWS or moto shape; `s3:TestEvent` and other events are skipped)
    or an EventBridge `Object Created` event from S3.
    """
    if event.get("detail-type") == "Object Created" and event.get("source") == "aws.s3":
        detail = _BridgeDetail.model_validate(event.get("detail") or {})
        obj = detail.object
        version = f"v:{obj.version_id}" if obj.version_id else f"e:{obj.etag}:{obj.sequencer}"
        return [(detail.bucket.name, obj.key, version)]
    notification = S3Notification.model_validate(event)
    return [
        (r.s3.bucket.name, r.s3.object.key, r.version)
        for r in notification.records
        if r.event_name.startswith("ObjectCreated")
    ]
