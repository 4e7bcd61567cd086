"""State machine task: record FAILED (error name only) or announce a finished inquiry."""

from __future__ import annotations

from typing import Any

from cptverify.observability import logger, tracer
from cptverify.service.tasks import run_task, task_ids


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from cptverify.service import steps

    action = event.get("action")
    if action == "fail":
        error = event.get("error")
        name = error if isinstance(error, str) else None
        return run_task("fail", event, lambda: steps.record_failure(*task_ids(event), name))
    return run_task("announce", event, lambda: steps.announce(*task_ids(event)))
