"""Schedule ingest: an uploaded CSV under `schedules/TENANT/` becomes a batch of inquiries.

Event: the S3 `ObjectCreated` notification (as AWS sends it, or moto's reduced shape) or S3's
EventBridge `Object Created` event. Returns the batch ids and counts (no patient data). A
redelivered event for the same object version starts nothing twice: it does nothing when the
ingest is over and takes the batch over when the ingest that claimed it is gone. A key outside
`schedules/TENANT/` is skipped.

Errors that ask Lambda to deliver the event again (its asynchronous retries, then the
dead-letter queue): `BatchBusy` (another invocation's claim still holds) and `IngestHandedOver`
(time ran short while starting inquiries; the redelivery starts the rest).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cptverify.observability import logger, metrics, tracer
from cptverify.schedules.adapters import ingest_object
from cptverify.schedules.ingest import NotASchedule
from cptverify.schedules.notification import created_objects


def _time_left(context: Any) -> Callable[[], float] | None:
    """Seconds this invocation has left, from the Lambda context (None without one)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return lambda: remaining() / 1000


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    batches = []
    for bucket, key, version in created_objects(event):
        try:
            summary = ingest_object(bucket, key, version, _time_left(context))
        except NotASchedule:
            logger.info("object skipped: not under schedules/TENANT/")
            continue
        metrics.add_metric(name="ScheduleRows", unit="Count", value=summary.rows)
        metrics.add_metric(name="ScheduleBadRows", unit="Count", value=summary.bad_rows)
        batches.append(summary.log_fields())
    return {"batches": batches}
