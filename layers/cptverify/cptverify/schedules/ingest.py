"""Ingest one uploaded schedule: stream, validate, group, reuse fresh answers, start the rest.

The steps, for an object under `schedules/{tenant}/`:
1. Claim the upload: the batch item, keyed by the object version, records who works on it
   (`attempt`) and until when (`claim_until`: the claiming invocation's own end). A redelivered
   event finds the claim: it does nothing when the ingest is over, refuses while the claim
   holds (`BatchBusy`, so Lambda tries again later) and takes the batch over once the claim
   has run out, going on from where the batch stands.
2. Stream the CSV row by row; write one batch line item per appointment procedure as it goes
   (batched writes); keep only the small per-inquiry state grouping needs. Reading stops early
   when the invocation's time runs short: the rows not read are named in the error report.
3. Write the error report (if any row was bad) under `results/{tenant}/{batch_id}/`.
4. Look up fresh answers by HMAC key; write the inquiry items (each noting the fresh answer it
   will reuse, if any); record the batch's counts and mark it RUNNING.
5. Answer the fresh inquiries from their archived 271 (no payer call) and start an execution for
   every other one, in chunks, checkpointing the last one started. A takeover of a RUNNING batch
   does only this step, for the inquiries still open. Pacing per payer happens in the state
   machine (leases).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Collection, Iterable, Iterator
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
# The template's Timeout of the ingest function: how long a claim lasts when no Lambda context
# tells the invocation's own remaining time.
FUNCTION_TIME_LIMIT = 900
# Seconds a claim outlasts its invocation's end, for clock differences between hosts.
CLAIM_MARGIN = 30
# Reading stops with this many seconds left: enough to write the inquiries and start them.
READ_RESERVE = 180
# Answering and starting stop with this many seconds left; the rest is handed over.
START_RESERVE = 30
# Chunks of starts between two checkpoints (`started_through`) on the batch item.
CHECKPOINT_EVERY = 10

INGESTING = "INGESTING"
RUNNING = "RUNNING"
DONE = "DONE"
OPEN_INQUIRY = frozenset({"PENDING", "IN_PROGRESS"})
# Counts a takeover of a RUNNING batch reads back from the batch item for its summary.
_COUNTS = ("rows", "bad_rows", "duplicates", "lines", "reused")

_UNREADABLE = (
    "not readable as CSV (a cell longer than 131072 characters, say); the rows after it were read"
)
_UNREAD = (
    "not read: the ingest reached its time limit before this row; this row and the rows after "
    "it were not verified (upload them again in a smaller file)"
)

TimeLeft = Callable[[], float]


class NotASchedule(Exception):
    """The object is not under `schedules/{tenant}/` (or names no file)."""


class BatchBusy(Exception):
    """Another invocation holds the batch's claim and may still be at work.

    Raised so that Lambda delivers the event again later; by then the ingest is over (the
    redelivery does nothing) or its claim has run out (the redelivery takes the batch over).
    """

    def __init__(self, batch_id: str) -> None:
        super().__init__(f"batch {batch_id} is claimed by another ingest; try again later")
        self.batch_id = batch_id


class IngestHandedOver(Exception):
    """Time ran short while answering and starting; the claim was released for a redelivery.

    Raised so that Lambda delivers the event again: that invocation takes the batch over and
    starts what is still unstarted.
    """

    def __init__(self, batch_id: str, started_through: str | None) -> None:
        super().__init__(
            f"batch {batch_id}: time limit near; started through {started_through or 'none'}, "
            "the rest is left to a redelivery"
        )
        self.batch_id = batch_id


class ClaimLost(Exception):
    """The batch item no longer names this invocation's attempt: another one took over."""

    def __init__(self, batch_id: str) -> None:
        super().__init__(f"batch {batch_id} was taken over by another ingest")
        self.batch_id = batch_id


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
    def version_id(self) -> str | None:
        """The S3 version id the notification named (None for an unversioned bucket)."""
        return self.version[2:] if self.version.startswith("v:") else None

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


def inquiry_ids(batch_id: str, count: int) -> list[str]:
    """The batch's inquiry ids, in the order they were planned (see `Grouper.add`)."""
    return [f"{batch_id}-{n:05d}" for n in range(1, count + 1)]


class ItemWriter(Protocol):
    def put(self, item: dict[str, Any]) -> None: ...


class _KeyRecorder:
    """An ItemWriter that notes the sort key of every item it passes on."""

    def __init__(self, writer: ItemWriter) -> None:
        self.writer = writer
        self.sks: set[str] = set()

    def put(self, item: dict[str, Any]) -> None:
        self.sks.add(str(item["sk"]))
        self.writer.put(item)


class BatchPorts(Protocol):
    """What ingest needs from the outside world (see `cptverify.schedules.adapters`)."""

    def create_batch(self, upload: Upload, item: dict[str, Any]) -> bool: ...

    def get_batch(self, tenant: str, batch_id: str) -> dict[str, Any] | None: ...

    def take_over(
        self, tenant: str, batch_id: str, held: dict[str, Any], now: int, until: int
    ) -> bool: ...

    def release_claim(self, tenant: str, batch_id: str, attempt: int, now: int) -> None: ...

    def known_payers(self) -> Collection[str] | None: ...

    def writer(self) -> AbstractContextManager[ItemWriter]: ...

    def put_object(self, key: str, body: bytes, content_type: str) -> None: ...

    def fresh_answers(self, tenant: str, keys: list[str], now: int) -> dict[str, FreshAnswer]: ...

    def inquiry_item(
        self, upload: Upload, planned: PlannedInquiry, fresh_key: str, now: int
    ) -> dict[str, Any]: ...

    def inquiry_states(self, tenant: str, ids: list[str]) -> dict[str, dict[str, Any]]: ...

    def earlier_lines(self, tenant: str, batch_id: str) -> dict[str, str]: ...

    def drop_stale(
        self, tenant: str, batch_id: str, line_sks: list[str], inquiry_ids: list[str]
    ) -> None: ...

    def save_requests(self, upload: Upload, planned: list[PlannedInquiry]) -> None: ...

    def update_batch(
        self,
        tenant: str,
        batch_id: str,
        fields: dict[str, Any],
        *,
        attempt: int | None = None,
        status: str | None = None,
    ) -> None: ...

    def answer_from_archive(self, tenant: str, inquiry_id: str, answer: FreshAnswer) -> None: ...

    def start_executions(self, tenant: str, inquiry_ids: list[str]) -> None: ...

    def announce(self, tenant: str, inquiry_id: str) -> None: ...

    def finish_if_done(self, tenant: str, batch_id: str) -> bool: ...


@dataclass(slots=True)
class IngestSummary:
    """Counts of one ingest (ids and numbers only: safe to log and to return)."""

    batch_id: str
    tenant: str
    status: str
    attempt: int = 0
    rows: int = 0
    bad_rows: int = 0
    duplicates: int = 0
    lines: int = 0
    inquiries: int = 0
    reused: int = 0
    started: int = 0
    unread_from_row: int | None = None
    ignored_columns: list[str] = field(default_factory=list)
    error_report: str | None = None

    def log_fields(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "tenant": self.tenant,
            "status": self.status,
            "attempt": self.attempt,
            "rows": self.rows,
            "bad_rows": self.bad_rows,
            "duplicates": self.duplicates,
            "lines": self.lines,
            "inquiries": self.inquiries,
            "reused": self.reused,
            "started": self.started,
            "unread_from_row": self.unread_from_row,
        }


@dataclass(frozen=True, slots=True)
class Claim:
    """This invocation's hold on a batch: its attempt number and the phase to go on with."""

    attempt: int
    phase: str
    inquiries: int = 0
    started_through: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Work:
    """What is left after reading: inquiries to answer from the archive, inquiries to start."""

    reuse: list[tuple[str, FreshAnswer]]
    to_start: list[str]
    # Ended but never counted in the batch (the invocation died between the two).
    to_announce: list[str] = field(default_factory=list)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _unlimited() -> float:
    return float(FUNCTION_TIME_LIMIT)


def _now() -> int:
    return int(time.time())


def claim_batch(
    upload: Upload, batch_item: dict[str, Any], ports: BatchPorts, now: int, until: int
) -> Claim | None:
    """Claim the batch for this invocation; None when its ingest is already over.

    Raises BatchBusy while another invocation's claim holds (or when it just took over).
    """
    tenant, batch_id = upload.tenant, upload.batch_id
    first = {**batch_item, "attempt": 1, "claimed_at": now, "claim_until": until}
    if ports.create_batch(upload, first):
        return Claim(attempt=1, phase=INGESTING)
    held = ports.get_batch(tenant, batch_id)
    if held is None:
        raise BatchBusy(batch_id)  # (expired between the two calls: the next try creates it)
    if held.get("status") == DONE or held.get("ingest_finished_at") is not None:
        return None
    if int(held.get("claim_until", 0)) > now:
        logger.info(
            "batch claim still held",
            extra={"batch_id": batch_id, "attempt": int(held.get("attempt", 1))},
        )
        raise BatchBusy(batch_id)
    if not ports.take_over(tenant, batch_id, held, now, until):
        raise BatchBusy(batch_id)
    attempt = int(held.get("attempt", 1)) + 1
    logger.info(
        "batch taken over",
        extra={"batch_id": batch_id, "attempt": attempt, "phase": held.get("status")},
    )
    through = held.get("started_through")
    return Claim(
        attempt=attempt,
        phase=str(held.get("status")),
        inquiries=int(held.get("inquiries", 0)),
        started_through=str(through) if through else None,
        counts={name: int(held.get(name, 0)) for name in _COUNTS},
    )


def _read(
    lines: Iterable[str],
    grouper: Grouper,
    writer: ItemWriter,
    summary: IngestSummary,
    problems: list[RowProblem],
    today: date | None,
    expires_at: int,
    payers: Collection[str] | None = None,
    time_up: Callable[[], bool] = lambda: False,
) -> None:
    """Stream rows into the grouper, writing a line item per appointment procedure.

    Stops before a row when `time_up()` says so, naming that row in `problems`.
    """
    bad_rows: set[int] = set()
    try:
        for item in iter_rows(lines):
            if isinstance(item, Header):
                summary.ignored_columns = list(item.ignored)
                continue
            if time_up():
                summary.unread_from_row = item.number
                problems.append(RowProblem(item.number, "", "", "row", _UNREAD))
                break
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
                row = validate_row(raw, today, payers=payers)
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


def _read_and_plan(
    upload: Upload,
    lines: Iterable[str],
    ports: BatchPorts,
    claim: Claim,
    summary: IngestSummary,
    *,
    secret: bytes,
    window: int,
    now: int,
    today: date | None,
    expires_at: int,
    time_left: TimeLeft,
) -> Work:
    """Steps 2-4: read the file, report bad rows, write the inquiries, mark the batch RUNNING.

    A takeover redoes these steps from the start: every write lands on the same keys, and an
    inquiry item found already past PENDING is left as it is. A redo may plan otherwise than
    the dead attempt (a registry or a time limit of its own): line items and still-PENDING
    inquiry items that only the earlier attempt wrote are removed before the batch runs.
    """
    grouper = Grouper(upload.batch_id)
    problems: list[RowProblem] = []
    payers = ports.known_payers()
    redo = claim.attempt > 1
    earlier = ports.earlier_lines(upload.tenant, upload.batch_id) if redo else {}
    with ports.writer() as writer:
        recorder = _KeyRecorder(writer)
        _read(
            lines,
            grouper,
            recorder,
            summary,
            problems,
            today,
            expires_at,
            payers,
            lambda: time_left() < READ_RESERVE,
        )

    # Limitation: a redo that finds no bad row leaves an error report an earlier attempt wrote
    # in the bucket (the batch no longer names it).
    if problems:
        summary.error_report = upload.results_prefix + "errors.csv"
        ports.put_object(summary.error_report, render_errors_csv(problems), "text/csv")

    planned = list(grouper.inquiries.values())
    keys = {p.inquiry_id: freshness_key(secret, upload.tenant, p.identity) for p in planned}
    fresh = ports.fresh_answers(upload.tenant, sorted(set(keys.values())), now) if window else {}
    ports.save_requests(upload, planned)
    # Still this attempt's claim (else ClaimLost)? A host whose clock runs ahead may have taken
    # the batch over while this one read; its inquiries may have run since, so none is rewritten.
    # Limitation: a takeover between this check and the inquiry writes below is not seen.
    ports.update_batch(
        upload.tenant,
        upload.batch_id,
        {"plan_checked_at": _now()},
        attempt=claim.attempt,
        status=INGESTING,
    )
    # Only a redo can meet inquiry items already written (nothing was started before RUNNING).
    existing = (
        ports.inquiry_states(upload.tenant, [p.inquiry_id for p in planned])
        if claim.attempt > 1
        else {}
    )
    moved_on = {i for i, item in existing.items() if item.get("status") != "PENDING"}
    ended = {i for i in moved_on if existing[i].get("status") not in OPEN_INQUIRY}
    with ports.writer() as writer:
        for inquiry in planned:
            if inquiry.inquiry_id in moved_on:
                continue
            item = ports.inquiry_item(upload, inquiry, keys[inquiry.inquiry_id], now)
            answer = fresh.get(keys[inquiry.inquiry_id])
            if answer is not None:
                item["reuse_planned"] = _answer_to_item(answer)
            writer.put(item)
    if earlier:
        planned_ids = {p.inquiry_id for p in planned}
        ports.drop_stale(
            upload.tenant,
            upload.batch_id,
            sorted(set(earlier) - recorder.sks),
            sorted(set(earlier.values()) - planned_ids),
        )
    answers = {p.inquiry_id: fresh.get(keys[p.inquiry_id]) for p in planned}
    work = Work(
        reuse=[(i, a) for i, a in answers.items() if a is not None and i not in ended],
        to_start=[i for i, a in answers.items() if a is None and i not in ended],
    )
    summary.inquiries = len(planned)
    summary.reused = len(work.reuse)
    grouper.inquiries.clear()

    ports.update_batch(
        upload.tenant,
        upload.batch_id,
        {
            "status": RUNNING,
            "rows": summary.rows,
            "bad_rows": summary.bad_rows,
            "duplicates": summary.duplicates,
            "lines": summary.lines,
            "inquiries": summary.inquiries,
            "reused": summary.reused,
            "error_report": summary.error_report,
            "ignored_columns": summary.ignored_columns,
            "unread_from_row": summary.unread_from_row,
        },
        attempt=claim.attempt,
        status=INGESTING,
    )
    summary.status = RUNNING
    return work


def _answer_to_item(answer: FreshAnswer) -> dict[str, Any]:
    return {
        "inquiry_id": answer.inquiry_id,
        "response_key": answer.response_key,
        "verified_at": answer.verified_at,
    }


def _answer_from_item(value: dict[str, Any]) -> FreshAnswer:
    return FreshAnswer(
        inquiry_id=str(value["inquiry_id"]),
        response_key=str(value["response_key"]),
        verified_at=int(value["verified_at"]),
    )


def _unfinished(upload: Upload, ports: BatchPorts, claim: Claim, summary: IngestSummary) -> Work:
    """What a takeover of a RUNNING batch still has to do: the open inquiries' answers and starts,
    and the announcement of an inquiry that ended without being counted in the batch.

    Starting again an inquiry started before is harmless (executions are named by inquiry id);
    the checkpoint only spares those calls.
    """
    ids = inquiry_ids(upload.batch_id, claim.inquiries)
    states = ports.inquiry_states(upload.tenant, ids)
    reuse: list[tuple[str, FreshAnswer]] = []
    to_start: list[str] = []
    to_announce: list[str] = []
    for inquiry_id in ids:
        item = states.get(inquiry_id) or {}
        open_ = item.get("status", "PENDING") in OPEN_INQUIRY
        if not open_ and not item.get("batch_counted"):
            to_announce.append(inquiry_id)
        planned = item.get("reuse_planned")
        if planned:
            if open_:
                reuse.append((inquiry_id, _answer_from_item(planned)))
        elif open_ and (claim.started_through is None or inquiry_id > claim.started_through):
            to_start.append(inquiry_id)
    for name, value in claim.counts.items():
        setattr(summary, name, value)
    summary.inquiries = claim.inquiries
    summary.status = RUNNING
    return Work(reuse=reuse, to_start=to_start, to_announce=to_announce)


def _answer_and_start(
    upload: Upload,
    ports: BatchPorts,
    work: Work,
    claim: Claim,
    summary: IngestSummary,
    time_left: TimeLeft,
) -> None:
    """Step 5, watching the time: when it runs short the claim is handed over."""
    tenant, batch_id = upload.tenant, upload.batch_id
    for inquiry_id in work.to_announce:
        ports.announce(tenant, inquiry_id)
    for index, (inquiry_id, answer) in enumerate(work.reuse):
        if index % START_CHUNK == 0 and time_left() < START_RESERVE:
            raise IngestHandedOver(batch_id, None)
        ports.answer_from_archive(tenant, inquiry_id, answer)
    through: str | None = None
    for index, chunk in enumerate(_chunks(work.to_start, START_CHUNK)):
        if time_left() < START_RESERVE:
            if through is not None:
                ports.update_batch(
                    tenant, batch_id, {"started_through": through}, attempt=claim.attempt
                )
            raise IngestHandedOver(batch_id, through)
        ports.start_executions(tenant, chunk)
        summary.started += len(chunk)
        through = chunk[-1]
        if (index + 1) % CHECKPOINT_EVERY == 0:
            ports.update_batch(
                tenant, batch_id, {"started_through": through}, attempt=claim.attempt
            )


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
    time_left: TimeLeft | None = None,
) -> IngestSummary:
    """Ingest one schedule upload end to end; return its counts. Starts nothing twice.

    `time_left()` gives the seconds this invocation has left (the Lambda context's remaining
    time); without it the function's time limit is assumed and never runs short. Raises
    BatchBusy (claim held elsewhere) and IngestHandedOver (time ran short while starting) so
    that Lambda delivers the event again; any other error releases the claim and propagates.
    """
    now = _now() if now is None else now
    time_left = time_left or _unlimited
    batch_id = upload.batch_id
    summary = IngestSummary(batch_id=batch_id, tenant=upload.tenant, status=INGESTING)
    expires_at = now + retention_seconds
    batch_item = {
        **batch_keys(upload.tenant, batch_id),
        "batch_id": batch_id,
        "tenant": upload.tenant,
        "source_key": upload.key,
        "source_version": upload.version,
        "status": INGESTING,
        "created_at": now,
        "expires_at": expires_at,
    }
    # Limitation: an invocation killed outright before its time limit (out of memory, say) keeps
    # its claim until that limit; Lambda's retries come sooner and are refused (BatchBusy), so
    # the event ends in the dead-letter queue and recovers when it is redriven.
    until = now + math.ceil(time_left()) + CLAIM_MARGIN
    claim = claim_batch(upload, batch_item, ports, now, until)
    if claim is None:
        summary.status = "DUPLICATE"
        # (a batch of no inquiries is finished by its ingest alone: finish it if that was lost)
        ports.finish_if_done(upload.tenant, batch_id)
        logger.info("schedule already ingested", extra=summary.log_fields())
        return summary
    summary.attempt = claim.attempt
    logger.info(
        "schedule ingest started",
        extra={"batch_id": batch_id, "tenant": upload.tenant, "attempt": claim.attempt},
    )

    try:
        if claim.phase == INGESTING:
            work = _read_and_plan(
                upload,
                lines,
                ports,
                claim,
                summary,
                secret=secret,
                window=window,
                now=now,
                today=today,
                expires_at=expires_at,
                time_left=time_left,
            )
        else:
            work = _unfinished(upload, ports, claim, summary)
        _answer_and_start(upload, ports, work, claim, summary, time_left)
        ports.update_batch(
            upload.tenant,
            batch_id,
            {"ingest_finished_at": _now(), "claim_until": _now()},
            attempt=claim.attempt,
        )
    except ClaimLost:
        logger.warning("batch claim lost", extra=summary.log_fields())
        raise
    except Exception as exc:
        logger.warning(
            "schedule ingest stopped", extra={**summary.log_fields(), "error": type(exc).__name__}
        )
        _release(upload, ports, claim)
        raise

    if ports.finish_if_done(upload.tenant, batch_id):
        summary.status = DONE
    logger.info("schedule ingest finished", extra=summary.log_fields())
    return summary


def _release(upload: Upload, ports: BatchPorts, claim: Claim) -> None:
    """Let a redelivery take the batch over at once (best effort: the claim runs out anyway)."""
    try:
        ports.release_claim(upload.tenant, upload.batch_id, claim.attempt, _now())
    except Exception as exc:  # noqa: BLE001 - the original error is the one to report
        logger.warning(
            "batch claim not released",
            extra={"batch_id": upload.batch_id, "error": type(exc).__name__},
        )
