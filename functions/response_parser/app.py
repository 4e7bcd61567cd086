"""State machine task: read the archived 271, resolve each CPT, record results and status."""

from __future__ import annotations

from typing import Any

from cptverify.observability import logger, tracer
from cptverify.service.tasks import run_task, task_ids


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from cptverify.service import steps

    return run_task("parse", event, lambda: steps.parse_and_record(*task_ids(event)))
