"""Schedule ingest: an uploaded CSV under `schedules/TENANT/` becomes a batch of inquiries.

Event: the S3 `ObjectCreated` notification (as AWS sends it, or moto's reduced shape) or S3's
EventBridge `Object Created` event. Returns the batch ids and counts (no patient data). A
redelivered event starts nothing twice; it takes over a batch whose ingest died. `BatchBusy` and
`IngestHandedOver` ask Lambda to deliver the event again. A key outside `schedules/TENANT/` is
skipped.
"""

from __future__ import annotations

from typing import Any

from cptverify.observability import logger, metrics, tracer
from cptverify.schedules.adapters import ingest_object, time_left_of
from cptverify.schedules.ingest import NotASchedule
from cptverify.schedules.notification import created_objects


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    batches = []
    for bucket, key, version in created_objects(event):
        try:
            summary = ingest_object(bucket, key, version, time_left_of(context))
        except NotASchedule:
            logger.info("object skipped: not under schedules/TENANT/")
            continue
        metrics.add_metric(name="ScheduleRows", unit="Count", value=summary.rows)
        metrics.add_metric(name="ScheduleBadRows", unit="Count", value=summary.bad_rows)
        batches.append(summary.log_fields())
    return {"batches": batches}
