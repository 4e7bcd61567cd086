"""The AWS side of ingest: DynamoDB items, the archive bucket, executions (boto3 via `aws/`).

Inquiry items have the shape `cptverify.aws.store.put_inquiry` writes, plus the batch fields
(`batch_id`, `freshness_key`, `request_ref`, and per procedure the claim id and claim line the
result is written under). They are written in batches, never one request per item.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from cptverify.aws import clients, executions, keys, store
from cptverify.aws.settings import settings
from cptverify.observability import logger
from cptverify.schedules import dynamo, progress
from cptverify.schedules.columns import ScheduleFormatError, text_stream
from cptverify.schedules.freshness import (
    FreshAnswer,
    answer_from_item,
    fresh_keys,
    window_seconds,
)
from cptverify.schedules.grouping import Line, PlannedInquiry
from cptverify.schedules.ingest import (
    ClaimLost,
    IngestSummary,
    ItemWriter,
    TimeLeft,
    Upload,
    ingest_schedule,
    upload_from_object,
)
from cptverify.schedules.requests import RequestBundle, requests_key

# StartExecution calls in flight at once when deployed (boto3's default pool holds 10).
STARTS_AT_ONCE = 8


class AwsBatchPorts:
    """Ports of `ingest_schedule` over the deployed (or moto) table, bucket and state machine."""

    def __init__(self, upload: Upload) -> None:
        self.upload = upload
        self.bundle = RequestBundle(requests_key(upload.tenant, upload.batch_id))
        self.refs: dict[str, dict[str, str]] = {}

    def create_batch(self, upload: Upload, item: dict[str, Any]) -> bool:
        """Put the batch item unless it exists; False when it does (a redelivery)."""
        from botocore.exceptions import ClientError

        try:
            clients.table().put_item(
                Item={**item, "bucket": upload.bucket},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if clients.is_conditional_failure(exc):
                return False
            raise
        return True

    def get_batch(self, tenant: str, batch_id: str) -> dict[str, Any] | None:
        return progress.get_batch(tenant, batch_id)

    def take_over(
        self, tenant: str, batch_id: str, held: dict[str, Any], now: int, until: int
    ) -> bool:
        """Move the claim to the next attempt if the batch still stands as `held` was read.

        Conditional on the phase, the attempt and the claim having run out, so of two
        redeliveries racing for a stale claim exactly one wins.
        """
        from botocore.exceptions import ClientError

        values: dict[str, Any] = {
            ":phase": held.get("status"),
            ":now": now,
            ":until": until,
            ":next": int(held.get("attempt", 1)) + 1,
        }
        attempt = "attribute_not_exists(attempt)"
        if "attempt" in held:
            attempt = "attempt = :attempt"
            values[":attempt"] = held["attempt"]
        try:
            clients.table().update_item(
                Key={"pk": keys.batch_pk(tenant, batch_id), "sk": keys.BATCH_SK},
                UpdateExpression="SET attempt = :next, claimed_at = :now, claim_until = :until",
                ConditionExpression=f"#s = :phase AND {attempt} "
                "AND (attribute_not_exists(claim_until) OR claim_until <= :now) "
                "AND attribute_not_exists(ingest_finished_at)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if clients.is_conditional_failure(exc):
                return False
            raise
        return True

    def release_claim(self, tenant: str, batch_id: str, attempt: int, now: int) -> None:
        """End this attempt's claim now (only if it is still this attempt's)."""
        from botocore.exceptions import ClientError

        try:
            clients.table().update_item(
                Key={"pk": keys.batch_pk(tenant, batch_id), "sk": keys.BATCH_SK},
                UpdateExpression="SET claim_until = :now",
                ConditionExpression="attempt = :attempt",
                ExpressionAttributeValues={":now": now, ":attempt": attempt},
            )
        except ClientError as exc:
            if not clients.is_conditional_failure(exc):
                raise

    def known_payers(self) -> Collection[str] | None:
        """The payer ids of the registry (read once per ingest), or None when it is unreadable.

        Without a registry the payer ids go unchecked here; each inquiry then fails at run
        time with PayerConfigError, as an API inquiry would.
        """
        from cptverify.payers.errors import PayerConfigError
        from cptverify.payers.registry import load_registry

        load_registry.cache_clear()  # read afresh for each ingest (SSM values: Powertools' cache)
        try:
            return frozenset(load_registry().ids())
        except PayerConfigError:
            logger.warning("payer registry unreadable; payer ids not checked at ingest")
            return None

    @contextmanager
    def writer(self) -> Iterator[ItemWriter]:
        with dynamo.batch_writer() as writer:
            yield writer

    def put_object(self, key: str, body: bytes | BinaryIO, content_type: str) -> None:
        clients.s3().put_object(
            Bucket=self.upload.bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ServerSideEncryption="aws:kms",
        )

    def fresh_answers(self, tenant: str, keys_: list[str], now: int) -> dict[str, FreshAnswer]:
        window = window_seconds()
        wanted = [fresh_keys(tenant, k) for k in keys_]
        found = dynamo.batch_get(wanted)
        answers: dict[str, FreshAnswer] = {}
        for key, item_key in zip(keys_, wanted, strict=True):
            item = found.get((item_key["pk"], item_key["sk"]))
            if item is not None:
                answer = answer_from_item(item)
                if answer.is_fresh(now, window):
                    answers[key] = answer
        return answers

    def save_requests(self, upload: Upload, planned: list[PlannedInquiry]) -> None:
        """Write every inquiry's request into the batch's one archive object (ranges kept).

        Requests are not validated again here: each row was.
        """
        # Limitation: one row naming more than 99 procedures exceeds the inquiry model and
        # ends FAILED (InquiryInvalid); a visit of many rows goes on in further inquiries.
        for inquiry in planned:
            self.refs[inquiry.inquiry_id] = self.bundle.add(inquiry.inquiry_body())
        if self.refs:
            self.put_object(self.bundle.key, self.bundle.stream(), "application/x-ndjson")
        self.bundle.close()

    def inquiry_item(
        self, upload: Upload, planned: PlannedInquiry, fresh_key: str, now: int
    ) -> dict[str, Any]:
        """The item `store.put_inquiry` would write (counters are left to its ADDs)."""
        stamp = store.now_iso()
        return {
            "pk": keys.inquiry_pk(upload.tenant, planned.inquiry_id),
            "sk": keys.INQUIRY_SK,
            "gsi1pk": keys.status_gsi1pk("PENDING"),
            "gsi1sk": keys.status_gsi1sk(stamp[:10], planned.inquiry_id),
            "status": "PENDING",
            "created_at": stamp,
            "updated_at": stamp,
            "expires_at": store.expires_at(now),
            "inquiry_id": planned.inquiry_id,
            "claim_id": planned.body["claim_id"],
            "payer_id": planned.body["payer"]["id"],
            # The provider's network (in, out, unknown) for the report; not patient data.
            "network": planned.body["provider"].get("network", "unknown"),
            "mode": "batch",
            "batch_id": upload.batch_id,
            "freshness_key": fresh_key,
            "request_ref": self.refs.pop(planned.inquiry_id),
            "procedures": [
                {
                    "line": ln.line,
                    "code": ln.code,
                    "modifiers": list(ln.modifiers),
                    "claim_id": ln.claim_id,
                }
                for ln in planned.lines
            ],
        }

    def update_batch(
        self,
        tenant: str,
        batch_id: str,
        fields: dict[str, Any],
        *,
        attempt: int | None = None,
        status: str | None = None,
    ) -> None:
        """Set `fields` (None values skipped); with `attempt`, only while that attempt holds
        the claim (and with `status`, while the batch has it), else raise ClaimLost."""
        from botocore.exceptions import ClientError

        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets = []
        for index, (name, value) in enumerate(fields.items()):
            if value is None:
                continue
            names[f"#f{index}"] = name
            values[f":f{index}"] = value
            sets.append(f"#f{index} = :f{index}")
        conditions = []
        if attempt is not None:
            conditions.append("attempt = :attempt")
            values[":attempt"] = attempt
        if status is not None:
            names["#status"] = "status"
            conditions.append("#status = :status")
            values[":status"] = status
        extra = {"ConditionExpression": " AND ".join(conditions)} if conditions else {}
        try:
            clients.table().update_item(
                Key={"pk": keys.batch_pk(tenant, batch_id), "sk": keys.BATCH_SK},
                UpdateExpression="SET " + ", ".join(sets),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                **extra,
            )
        except ClientError as exc:
            if conditions and clients.is_conditional_failure(exc):
                raise ClaimLost(batch_id) from None
            raise

    def inquiry_states(self, tenant: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The batch's inquiry items by id (status, planned reuse), read in batches."""
        wanted = [{"pk": keys.inquiry_pk(tenant, i), "sk": keys.INQUIRY_SK} for i in ids]
        found = dynamo.batch_get(wanted)
        states: dict[str, dict[str, Any]] = {}
        for inquiry_id, key in zip(ids, wanted, strict=True):
            item = found.get((key["pk"], key["sk"]))
            if item is not None:
                states[inquiry_id] = item
        return states

    def earlier_lines(self, tenant: str, batch_id: str) -> dict[str, str]:
        """The batch's line items an earlier attempt wrote: sort key -> inquiry id."""
        return {
            str(item["sk"]): Line.from_item(item).inquiry_id
            for item in dynamo.query_prefix(keys.batch_pk(tenant, batch_id), "LINE#")
        }

    def drop_stale(
        self, tenant: str, batch_id: str, line_sks: list[str], inquiry_ids: list[str]
    ) -> None:
        """Delete line items and never-started inquiry items this attempt did not plan.

        An inquiry item is deleted only while PENDING (nothing starts before RUNNING); one that
        moved on is left, and logged.
        """
        from botocore.exceptions import ClientError

        pk = keys.batch_pk(tenant, batch_id)
        with dynamo.batch_writer() as writer:
            for sk in line_sks:
                writer.delete({"pk": pk, "sk": sk})
        for inquiry_id in inquiry_ids:
            try:
                clients.dynamodb().delete_item(
                    TableName=settings().table_name,
                    Key=dynamo.encode(
                        {"pk": keys.inquiry_pk(tenant, inquiry_id), "sk": keys.INQUIRY_SK}
                    ),
                    ConditionExpression="#s = :pending",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues=dynamo.encode({":pending": "PENDING"}),
                )
            except ClientError as exc:
                if not clients.is_conditional_failure(exc):
                    raise
                logger.warning("stale batch inquiry not removed", extra={"inquiry_id": inquiry_id})
        if line_sks or inquiry_ids:
            logger.info(
                "stale batch items removed",
                extra={"batch_id": batch_id, "lines": len(line_sks), "inquiries": len(inquiry_ids)},
            )

    def answer_from_archive(self, tenant: str, inquiry_id: str, answer: FreshAnswer) -> None:
        """Resolve a fresh inquiry from the archived 271 of an earlier one: no payer call."""
        from cptverify.service import steps

        # Limitation: every procedure is resolved from the earlier inquiry's first 271 (a split
        # exchange's later parts are not consulted), and the stored per-CPT results say
        # payer_calls 1 (the reused exchange) while the inquiry item records no call.
        item = store.get_inquiry(tenant, inquiry_id) or {}
        count = len(item.get("procedures") or [])
        response = {"key": answer.response_key, "procedure_indexes": list(range(count))}
        store.update_open(
            tenant, inquiry_id, {"responses": [response], "reused_from": answer.inquiry_id}, {}
        )
        steps.parse_and_record(tenant, inquiry_id)
        steps.announce(tenant, inquiry_id)

    def start_executions(self, tenant: str, inquiry_ids: list[str]) -> None:
        """Start every inquiry's execution, STARTS_AT_ONCE at a time over one shared client.

        There is no batch StartExecution API; the starts run in a bounded thread pool (boto3
        clients are thread-safe). The in-process moto stack runs them one after another
        (`CPTVERIFY_AWS_THREADS=1`, see `cptverify.aws.parallel`). An inquiry whose start fails
        for another reason than "already started" would never run: it is recorded FAILED with
        the reason `ExecutionNotStarted` and announced like any failed inquiry, which counts it
        in the batch's `failed` (so the batch still finishes and writes its report).
        """
        from botocore.exceptions import ClientError

        from cptverify.aws.parallel import bounded_map
        from cptverify.service import steps
        from cptverify.service.inquiries import NOT_STARTED

        clients.stepfunctions()  # made once, before the workers share it

        def start(inquiry_id: str) -> str | None:
            """None when started (now or before); else the error's type name."""
            try:
                executions.start(tenant, inquiry_id, "batch")
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code") or type(exc).__name__)
                if code != "ExecutionAlreadyExists":
                    return code
                logger.info("execution already started", extra={"inquiry_id": inquiry_id})
                if _execution_over(inquiry_id):
                    # The name belongs to an execution that has ended while its inquiry is
                    # still open (a batch redriven after its items expired): nothing will run it.
                    return "ExecutionAlreadyEnded"
            except Exception as exc:  # noqa: BLE001 - any failure leaves the inquiry unrun
                return type(exc).__name__
            return None

        # Limitation: Step Functions' StartExecution quota (a token bucket per account and
        # region) still bounds the rate; throttled starts are retried by botocore's own retries.
        outcomes = list(bounded_map(start, inquiry_ids, STARTS_AT_ONCE))
        # Limitation: the ingest summary's `started` (a log field) still counts these inquiries;
        # the batch item's `failed` counter is the figure that reports them.
        # Recorded in this thread, after the starts (the table resource is not shared).
        for inquiry_id, error in zip(inquiry_ids, outcomes, strict=True):
            if error is None:
                continue
            logger.warning(
                "execution not started", extra={"inquiry_id": inquiry_id, "error": error}
            )
            steps.record_failure(tenant, inquiry_id, NOT_STARTED)
            steps.announce(tenant, inquiry_id)

    def announce(self, tenant: str, inquiry_id: str) -> None:
        """Announce an ended inquiry again (counted in its batch once, whoever announces)."""
        from cptverify.service import steps

        steps.announce(tenant, inquiry_id)

    def finish_if_done(self, tenant: str, batch_id: str) -> bool:
        return progress.finish_if_done(tenant, batch_id)


def _execution_over(inquiry_id: str) -> bool:
    """Whether the execution named after the inquiry has ended (not RUNNING)."""
    machine = settings().state_machine_arn
    arn = machine.replace(":stateMachine:", ":execution:", 1) + ":" + inquiry_id
    described = clients.stepfunctions().describe_execution(executionArn=arn)
    return str(described.get("status")) != "RUNNING"


def retention_seconds() -> int:
    return settings().retention_days * 86400


def now() -> int:
    return int(time.time())


def time_left_of(context: Any) -> TimeLeft | None:
    """Seconds the invocation has left, from the Lambda context (None without that method)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return lambda: float(remaining()) / 1000


def ingest_object(
    bucket: str, raw_key: str, version: str, time_left: TimeLeft | None = None
) -> IngestSummary:
    """Ingest one uploaded schedule object: stream its body from S3 into `ingest_schedule`.

    `time_left()`: the seconds this invocation has left (from the Lambda context).
    """
    from botocore.exceptions import ClientError

    from cptverify.schedules.freshness import load_secret

    upload = upload_from_object(bucket, raw_key, version)
    # The version the event names: a later upload of the same key is another batch.
    # Limitation: in an unversioned bucket a re-upload before its first version is read
    # replaces that version's content, so the first batch reads the newer rows.
    wanted = {"VersionId": upload.version_id} if upload.version_id else {}
    try:
        body = clients.s3().get_object(Bucket=upload.bucket, Key=upload.key, **wanted)["Body"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _GONE:
            raise
        logger.warning("schedule object gone", extra={"batch_id": upload.batch_id})
        body = None
    with contextlib.ExitStack() as stack:
        lines = _gone_lines() if body is None else stack.enter_context(text_stream(body))
        return ingest_schedule(
            upload,
            lines,
            AwsBatchPorts(upload),
            secret=load_secret(),
            window=window_seconds(),
            retention_seconds=retention_seconds(),
            time_left=time_left,
        )


# S3 errors of an object (version) deleted before the ingest read it.
_GONE = frozenset({"NoSuchKey", "NoSuchVersion", "404"})


def _gone_lines() -> Iterator[str]:
    """The rows of a deleted object: none. Its batch ends DONE with this one report line."""
    raise ScheduleFormatError(
        "file",
        "the uploaded object (this version) no longer exists, so no row was verified; "
        "upload the schedule again",
    )
    yield ""  # (a generator: the error comes when reading starts)
