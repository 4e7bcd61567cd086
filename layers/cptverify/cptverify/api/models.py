"""Response and request models of the partner API (they feed the OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cptverify.inquiry import FirstName35, Gender, IsoDate, PersonName60


class Links(BaseModel):
    self_: str = Field(alias="self", description="This inquiry")
    claim_procedures: str = Field(description="The claim's per-CPT results")

    model_config = ConfigDict(populate_by_name=True)


class InquiryAccepted(BaseModel):
    """An inquiry was stored and its workflow started (202)."""

    inquiry_id: str
    status: str
    links: Links


class FailureReason(BaseModel):
    error: str = Field(description="The error name the workflow caught, e.g. PayerTimeout")
    message: str


class InquiryView(BaseModel):
    """One inquiry: status, attempts and, once COMPLETED or REJECTED, its per-CPT results."""

    inquiry_id: str
    status: Literal["PENDING", "IN_PROGRESS", "COMPLETED", "REJECTED", "FAILED"]
    claim_id: str
    payer_id: str
    mode: Literal["realtime", "batch"]
    attempts: int
    payer_calls: int
    created_at: str
    updated_at: str
    finished_at: str | None = None
    reason: FailureReason | None = None
    rejections: list[dict[str, Any]] = Field(default_factory=list)
    resubmit_of: str | None = None
    resubmitted_as: str | None = None
    results: list[dict[str, Any]] = Field(
        default_factory=list, description="Per-CPT results (the shape of `cptverify parse`)"
    )
    links: Links


class ClaimProcedures(BaseModel):
    claim_id: str
    procedures: list[dict[str, Any]]


class _Correction(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, str_strip_whitespace=True)

    first_name: FirstName35 | None = None
    last_name: PersonName60 | None = None
    birth_date: IsoDate | None = None
    gender: Gender | None = None


class SubscriberCorrection(_Correction):
    member_id: str | None = Field(default=None, min_length=2, max_length=80)


class DependentCorrection(_Correction):
    pass


class Resubmission(BaseModel):
    """Corrected patient fields for a REJECTED inquiry (only the fields given change)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    subscriber: SubscriberCorrection | None = None
    dependent: DependentCorrection | None = None


class FieldError(BaseModel):
    field: str
    rule: str


class ErrorBody(BaseModel):
    """Every error answer: a stable code, a message without input values, fields if any."""

    error: str
    message: str
    fields: list[FieldError] = Field(default_factory=list)


class BatchProgress(BaseModel):
    finished: int = Field(description="Inquiries COMPLETED, REJECTED or FAILED")
    total: int = Field(description="Inquiries the batch planned")


class BatchCounts(BaseModel):
    rows: int
    bad_rows: int
    duplicates: int
    lines: int
    inquiries: int
    reused: int
    completed: int
    rejected: int
    failed: int


class ReportLink(BaseModel):
    key: str = Field(description="The object key in the archive bucket")
    url: str = Field(description="A presigned GET of the object, valid for 15 minutes")


class BatchLinks(BaseModel):
    self_: str = Field(alias="self", description="This batch")

    model_config = ConfigDict(populate_by_name=True)


class BatchView(BaseModel):
    """A schedule batch: status, progress, counts and where its reports are."""

    batch_id: str
    status: Literal["INGESTING", "RUNNING", "DONE"] | None = None
    source_key: str | None = Field(default=None, description="The uploaded schedule's key")
    progress: BatchProgress
    counts: BatchCounts
    ignored_columns: list[str] = Field(
        default_factory=list,
        description="Header cells of the schedule that name no known column (each cut to 64 "
        "characters); their values were not read",
    )
    bucket: str
    reports: dict[Literal["csv", "json", "errors"], ReportLink] = Field(
        default_factory=dict,
        description="`csv` and `json`: the report, once DONE; `errors`: the error report, when "
        "rows were bad",
    )
    links: BatchLinks
