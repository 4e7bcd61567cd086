"""State machine task: pacing lease, 270 out, 271 in (both archived); ids in and out."""

from __future__ import annotations

from typing import Any

from cptverify.observability import logger, tracer
from cptverify.service.tasks import run_task, task_ids


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from cptverify.service import steps

    # The step checks the time left before each further part of a split inquiry.
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    return run_task("exchange", event, lambda: steps.exchange(*task_ids(event), remaining_ms))
