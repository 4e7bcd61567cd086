"""Batch progress: count finished inquiries, and let the last one write the report.

`inquiry_finished` runs in the step that announces a finished inquiry. It counts the inquiry
once (a conditional flag on the inquiry item, in the same transaction as the batch counter), so a
retried step never counts twice. When completed + rejected + failed reaches the batch's
inquiries, `finish_if_done` writes the report (CSV and JSON) under `results/`, marks the batch
DONE (once) and emits `BatchCompleted`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from cptverify.aws import clients, keys
from cptverify.aws.settings import settings
from cptverify.observability import logger
from cptverify.schedules import dynamo
from cptverify.schedules.freshness import FreshAnswer, fresh_item, window_seconds
from cptverify.schedules.grouping import Line
from cptverify.schedules.report import ReportLine, render_csv, render_json, report_line

_COUNTER = {"COMPLETED": "completed", "REJECTED": "rejected", "FAILED": "failed"}
EVENT_SOURCE = "cptverify"
BATCH_COMPLETED = "BatchCompleted"


def get_batch(tenant: str, batch_id: str) -> dict[str, Any] | None:
    response = clients.table().get_item(
        Key={"pk": keys.batch_pk(tenant, batch_id), "sk": keys.BATCH_SK}, ConsistentRead=True
    )
    item = response.get("Item")
    return dict(item) if item else None


def inquiry_finished(tenant: str, inquiry: dict[str, Any]) -> bool:
    """Count a terminal batch inquiry once; write the report if it was the last. True if so."""
    batch_id = inquiry.get("batch_id")
    status = str(inquiry.get("status"))
    if not batch_id or status not in _COUNTER:
        return False
    inquiry_id = str(inquiry["inquiry_id"])
    counted = dynamo.count_once(
        {"pk": keys.inquiry_pk(tenant, inquiry_id), "sk": keys.INQUIRY_SK},
        {"pk": keys.batch_pk(tenant, str(batch_id)), "sk": keys.BATCH_SK},
        _COUNTER[status],
    )
    if counted:
        _remember_fresh(tenant, inquiry)
    else:
        logger.info("batch inquiry already counted", extra={"batch_id": batch_id})
    return finish_if_done(tenant, str(batch_id))


def _remember_fresh(tenant: str, inquiry: dict[str, Any]) -> None:
    """After a payer answer, remember it for the freshness window (not after a reuse)."""
    window = window_seconds()
    key = inquiry.get("freshness_key")
    responses = inquiry.get("responses") or []
    if inquiry.get("status") != "COMPLETED" or not window or not key or not responses:
        return
    response_key = responses[0].get("key")
    if inquiry.get("reused_from"):
        return
    answer = FreshAnswer(str(inquiry["inquiry_id"]), str(response_key), int(time.time()))
    clients.table().put_item(Item=fresh_item(tenant, str(key), answer, window))


def batch_lines(tenant: str, batch_id: str) -> Iterator[Line]:
    """The batch's appointment procedures in file order (paged query)."""
    for item in dynamo.query_prefix(keys.batch_pk(tenant, batch_id), "LINE#"):
        yield Line.from_item(item)


def report_lines(tenant: str, batch_id: str, page: int = 500) -> Iterator[ReportLine]:
    """Each batch line joined with its inquiry's status and its stored per-CPT result."""
    chunk: list[Line] = []
    for line in batch_lines(tenant, batch_id):
        chunk.append(line)
        if len(chunk) == page:
            yield from _join(tenant, chunk)
            chunk = []
    if chunk:
        yield from _join(tenant, chunk)


def _join(tenant: str, lines: list[Line]) -> Iterator[ReportLine]:
    inquiry_keys = [
        {"pk": keys.inquiry_pk(tenant, ln.inquiry_id), "sk": keys.INQUIRY_SK} for ln in lines
    ]
    result_keys = [
        {
            "pk": keys.claim_pk(tenant, ln.claim_id),
            "sk": keys.result_sk(ln.code, list(ln.modifiers), ln.line),
        }
        for ln in lines
    ]
    found = dynamo.batch_get(inquiry_keys + result_keys)
    for line, ik, rk in zip(lines, inquiry_keys, result_keys, strict=True):
        inquiry = found.get((ik["pk"], ik["sk"]))
        stored = found.get((rk["pk"], rk["sk"]))
        result = None
        if stored is not None and stored.get("inquiry_id") == line.inquiry_id:
            result = json.loads(stored["result"])
        yield report_line(line, inquiry, result)


def report_keys(tenant: str, batch_id: str) -> dict[str, str]:
    prefix = f"results/{tenant}/{batch_id}/"
    return {"csv": prefix + "report.csv", "json": prefix + "report.json"}


def finish_if_done(tenant: str, batch_id: str) -> bool:
    """Write the report and mark the batch DONE when every inquiry is terminal.

    True when the batch is done (now or before). `BatchCompleted` is put after DONE and noted
    on the batch item (`announced_at`); a call that finds the batch DONE without that note (the
    putting invocation died in between) puts it, so the event is delivered at least once.
    """
    from botocore.exceptions import ClientError

    batch = get_batch(tenant, batch_id)
    if batch is not None and batch.get("status") == "DONE":
        if not batch.get("announced_at"):
            _announce_completed(tenant, batch_id, batch)
        return True
    if batch is None or batch.get("status") != "RUNNING":
        return False
    finished = sum(int(batch.get(c, 0)) for c in _COUNTER.values())
    if finished < int(batch.get("inquiries", 0)):
        return False

    lines = list(report_lines(tenant, batch_id))
    bucket = str(batch.get("bucket") or settings().archive_bucket)
    header = {
        "batch_id": batch_id,
        "tenant": tenant,
        "source_key": batch.get("source_key"),
        "counts": batch_counts(batch),
    }
    targets = report_keys(tenant, batch_id)
    s3 = clients.s3()
    s3.put_object(Bucket=bucket, Key=targets["csv"], Body=render_csv(lines), ContentType="text/csv")
    s3.put_object(
        Bucket=bucket,
        Key=targets["json"],
        Body=render_json(header, lines),
        ContentType="application/json",
    )
    try:
        clients.table().update_item(
            Key={"pk": keys.batch_pk(tenant, batch_id), "sk": keys.BATCH_SK},
            UpdateExpression="SET #s = :done, report_csv = :csv, report_json = :json, "
            "finished_at = :now",
            ConditionExpression="#s = :running",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":done": "DONE",
                ":running": "RUNNING",
                ":csv": targets["csv"],
                ":json": targets["json"],
                ":now": int(time.time()),
            },
        )
    except ClientError as exc:
        if clients.is_conditional_failure(exc):
            return True
        raise
    logger.info("batch finished", extra={"batch_id": batch_id, "lines": len(lines)})
    _announce_completed(tenant, batch_id, batch)
    return True


# Limitation: two calls that both find the batch DONE and not yet announced (the last inquiry's
# step racing the ingest's own check) each put BatchCompleted; consumers key on batch_id.
def _announce_completed(tenant: str, batch_id: str, batch: dict[str, Any]) -> None:
    """Put `BatchCompleted` (ids, counts, report keys) and note it on the batch item."""
    detail = {
        "tenant": tenant,
        "batch_id": batch_id,
        **batch_counts(batch),
        **report_keys(tenant, batch_id),
    }
    clients.events().put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": BATCH_COMPLETED,
                "Detail": json.dumps(detail),
                "EventBusName": settings().event_bus_name,
            }
        ]
    )
    clients.table().update_item(
        Key={"pk": keys.batch_pk(tenant, batch_id), "sk": keys.BATCH_SK},
        UpdateExpression="SET announced_at = :now",
        ExpressionAttributeValues={":now": int(time.time())},
    )


def batch_counts(batch: dict[str, Any]) -> dict[str, int]:
    names = ("rows", "bad_rows", "duplicates", "lines", "inquiries", "reused")
    counts = {name: int(batch.get(name, 0)) for name in names}
    counts.update({name: int(batch.get(name, 0)) for name in _COUNTER.values()})
    return counts


def batch_view(tenant: str, batch_id: str) -> dict[str, Any] | None:
    """What `GET /v1/batches/{id}` shows: status, progress counts and links to the reports."""
    batch = get_batch(tenant, batch_id)
    if batch is None:
        return None
    counts = batch_counts(batch)
    finished = counts["completed"] + counts["rejected"] + counts["failed"]
    bucket = str(batch.get("bucket") or settings().archive_bucket)
    attributes = (("csv", "report_csv"), ("json", "report_json"), ("errors", "error_report"))
    reports = {
        name: {"key": str(batch[attr]), "url": _download_url(bucket, str(batch[attr]))}
        for name, attr in attributes
        if batch.get(attr)
    }
    return {
        "batch_id": batch_id,
        "status": batch.get("status"),
        "source_key": batch.get("source_key"),
        "progress": {"finished": finished, "total": counts["inquiries"]},
        "counts": counts,
        "ignored_columns": [str(c) for c in batch.get("ignored_columns") or []],
        "bucket": bucket,
        "reports": reports,
        "links": {"self": f"/v1/batches/{batch_id}"},
    }


def _download_url(bucket: str, key: str) -> str:
    """A presigned GET of a report, valid for 15 minutes."""
    url = clients.s3().generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=900
    )
    return str(url)
