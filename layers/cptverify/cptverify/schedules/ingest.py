"""Ingest one uploaded schedule: stream, validate, group, reuse fresh answers, start the rest.

The steps, for an object under `schedules/{tenant}/`:
1. Claim the upload: a conditional put of the batch item keyed by the object version, so a
   redelivered S3 event starts nothing twice.
2. Stream the CSV row by row; write one batch line item per appointment procedure as it goes
   (batched writes); keep only the small per-inquiry state grouping needs.
3. Write the error report (if any row was bad) under `results/{tenant}/{batch_id}/`.
4. Look up fresh answers by HMAC key; write the inquiry items; record the batch's counts.
5. Answer the fresh inquiries from their archived 271 (no payer call) and start an execution for
   every other one, in chunks. Pacing per payer happens in the state machine (leases).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol
from urllib.parse import unquote_plus

from cptverify.observability import logger
from cptverify.schedules.columns import (
    Header,
    RawRow,
    ScheduleFormatError,
    UnreadableRow,
    iter_rows,
)
from cptverify.schedules.freshness import FreshAnswer, freshness_key
from cptverify.schedules.grouping import Grouper, Line, PlannedInquiry
from cptverify.schedules.report import render_errors_csv
from cptverify.schedules.rows import RowInvalid, RowProblem, validate_row

SCHEDULES_PREFIX = "schedules/"
RESULTS_PREFIX = "results/"
START_CHUNK = 50
_UNREADABLE = (
    "not readable as CSV (a cell longer than 131072 characters, say); the rows after it were read"
)


class NotASchedule(Exception):
    """The object is not under `schedules/{tenant}/` (or names no file)."""


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded schedule object, as the S3 notification names it."""

    bucket: str
    key: str
    version: str
    tenant: str

    @property
    def batch_id(self) -> str:
        """Deterministic per object version: the same upload always maps to the same batch."""
        digest = hashlib.sha256(f"{self.bucket}\n{self.key}\n{self.version}".encode())
        return "b" + digest.hexdigest()[:23]

    @property
    def results_prefix(self) -> str:
        return f"{RESULTS_PREFIX}{self.tenant}/{self.batch_id}/"


def upload_from_object(bucket: str, raw_key: str, version: str) -> Upload:
    """An `Upload` from a notification's (URL-encoded) key; raise NotASchedule otherwise."""
    key = unquote_plus(raw_key)
    parts = key.split("/")
    if len(parts) < 3 or parts[0] + "/" != SCHEDULES_PREFIX or not parts[1] or not parts[-1]:
        raise NotASchedule("object is not under schedules/TENANT/")
    return Upload(bucket=bucket, key=key, version=version, tenant=parts[1])


def batch_keys(tenant: str, batch_id: str) -> dict[str, str]:
    return {"pk": f"TENANT#{tenant}#BATCH#{batch_id}", "sk": "BATCH"}


def line_keys(tenant: str, batch_id: str, line: Line, index: int) -> dict[str, str]:
    return {"pk": f"TENANT#{tenant}#BATCH#{batch_id}", "sk": f"LINE#{line.row:07d}#{index:03d}"}


class ItemWriter(Protocol):
    def put(self, item: dict[str, Any]) -> None: ...


class BatchPorts(Protocol):
    """What ingest needs from the outside world (see `cptverify.schedules.adapters`)."""

    def claim_batch(self, upload: Upload, item: dict[str, Any]) -> bool: ...

    def writer(self) -> AbstractContextManager[ItemWriter]: ...

    def put_object(self, key: str, body: bytes, content_type: str) -> None: ...

    def fresh_answers(self, tenant: str, keys: list[str], now: int) -> dict[str, FreshAnswer]: ...

    def inquiry_item(
        self, upload: Upload, planned: PlannedInquiry, fresh_key: str, now: int
    ) -> dict[str, Any]: ...

    def save_requests(self, upload: Upload, planned: list[PlannedInquiry]) -> None: ...

    def update_batch(self, tenant: str, batch_id: str, fields: dict[str, Any]) -> None: ...

    def answer_from_archive(self, tenant: str, inquiry_id: str, answer: FreshAnswer) -> None: ...

    def start_executions(self, tenant: str, inquiry_ids: list[str]) -> None: ...

    def finish_if_done(self, tenant: str, batch_id: str) -> bool: ...


@dataclass(slots=True)
class IngestSummary:
    """Counts of one ingest (ids and numbers only: safe to log and to return)."""

    batch_id: str
    tenant: str
    status: str
    rows: int = 0
    bad_rows: int = 0
    duplicates: int = 0
    lines: int = 0
    inquiries: int = 0
    reused: int = 0
    started: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    error_report: str | None = None

    def log_fields(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "tenant": self.tenant,
            "status": self.status,
            "rows": self.rows,
            "bad_rows": self.bad_rows,
            "duplicates": self.duplicates,
            "lines": self.lines,
            "inquiries": self.inquiries,
            "reused": self.reused,
            "started": self.started,
        }


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _read(
    lines: Iterable[str],
    grouper: Grouper,
    writer: ItemWriter,
    summary: IngestSummary,
    problems: list[RowProblem],
    today: date | None,
    expires_at: int,
) -> None:
    """Stream rows into the grouper, writing a line item per appointment procedure."""
    bad_rows: set[int] = set()
    try:
        for item in iter_rows(lines):
            if isinstance(item, Header):
                summary.ignored_columns = list(item.ignored)
                continue
            summary.rows += 1
            if isinstance(item, UnreadableRow):
                bad_rows.add(item.number)
                problems.append(RowProblem(item.number, "", "", "row", _UNREADABLE))
                continue
            raw: RawRow = item
            duplicate = grouper.duplicate_of(raw)
            if duplicate is not None:
                summary.duplicates += 1
                problems.append(duplicate)
                continue
            try:
                row = validate_row(raw, today)
            except RowInvalid as exc:
                bad_rows.add(raw.number)
                problems.extend(exc.problems)
                continue
            _, new_lines, _ = grouper.add(row)
            for index, line in enumerate(new_lines):
                summary.lines += 1
                writer.put(
                    {
                        **line_keys(summary.tenant, summary.batch_id, line, index),
                        **line.to_item(),
                        "expires_at": expires_at,
                    }
                )
    except ScheduleFormatError as exc:
        problems.append(RowProblem(1, "", "", exc.column, exc.reason))
        bad_rows.add(1)
    summary.bad_rows = len(bad_rows)


def ingest_schedule(
    upload: Upload,
    lines: Iterable[str],
    ports: BatchPorts,
    *,
    secret: bytes,
    window: int,
    retention_seconds: int,
    now: int | None = None,
    today: date | None = None,
) -> IngestSummary:
    """Ingest one schedule upload end to end; return its counts. Starts nothing twice."""
    now = int(time.time()) if now is None else now
    batch_id = upload.batch_id
    summary = IngestSummary(batch_id=batch_id, tenant=upload.tenant, status="INGESTING")
    expires_at = now + retention_seconds
    batch_item = {
        **batch_keys(upload.tenant, batch_id),
        "batch_id": batch_id,
        "tenant": upload.tenant,
        "source_key": upload.key,
        "source_version": upload.version,
        "status": "INGESTING",
        "created_at": now,
        "expires_at": expires_at,
    }
    # Limitation: an ingest that dies mid-file leaves its batch INGESTING; a redelivery of the
    # same object version does not resume it (upload the file again to start a new batch).
    if not ports.claim_batch(upload, batch_item):
        summary.status = "DUPLICATE"
        logger.info("schedule already ingested", extra=summary.log_fields())
        return summary
    logger.info("schedule ingest started", extra={"batch_id": batch_id, "tenant": upload.tenant})

    grouper = Grouper(batch_id)
    problems: list[RowProblem] = []
    with ports.writer() as writer:
        _read(lines, grouper, writer, summary, problems, today, expires_at)

    if problems:
        summary.error_report = upload.results_prefix + "errors.csv"
        ports.put_object(summary.error_report, render_errors_csv(problems), "text/csv")

    planned = list(grouper.inquiries.values())
    keys = {p.inquiry_id: freshness_key(secret, upload.tenant, p.identity) for p in planned}
    fresh = ports.fresh_answers(upload.tenant, sorted(set(keys.values())), now) if window else {}
    ports.save_requests(upload, planned)
    with ports.writer() as writer:
        for inquiry in planned:
            writer.put(ports.inquiry_item(upload, inquiry, keys[inquiry.inquiry_id], now))
    reuse = [p.inquiry_id for p in planned if keys[p.inquiry_id] in fresh]
    to_start = [p.inquiry_id for p in planned if keys[p.inquiry_id] not in fresh]
    summary.inquiries = len(planned)
    summary.reused = len(reuse)
    summary.status = "RUNNING"
    grouper.inquiries.clear()

    ports.update_batch(
        upload.tenant,
        batch_id,
        {
            "status": "RUNNING",
            "rows": summary.rows,
            "bad_rows": summary.bad_rows,
            "duplicates": summary.duplicates,
            "lines": summary.lines,
            "inquiries": summary.inquiries,
            "reused": summary.reused,
            "error_report": summary.error_report,
            "ignored_columns": summary.ignored_columns,
        },
    )
    for inquiry_id in reuse:
        ports.answer_from_archive(upload.tenant, inquiry_id, fresh[keys[inquiry_id]])
    for chunk in _chunks(to_start, START_CHUNK):
        ports.start_executions(upload.tenant, chunk)
        summary.started += len(chunk)
    if ports.finish_if_done(upload.tenant, batch_id):
        summary.status = "DONE"
    logger.info("schedule ingest finished", extra=summary.log_fields())
    return summary
