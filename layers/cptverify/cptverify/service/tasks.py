"""What every state machine task handler shares: ids in, data-free errors out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cptverify.observability import logger


def task_ids(event: dict[str, Any]) -> tuple[str, str]:
    """The tenant and inquiry id of a task input (the only data a task receives)."""
    tenant, inquiry_id = event.get("tenant"), event.get("inquiry_id")
    if not isinstance(tenant, str) or not isinstance(inquiry_id, str):
        raise ValueError("task input needs tenant and inquiry_id")
    return tenant, inquiry_id


def run_task(
    step: str, event: dict[str, Any], work: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Run one step; any exception leaves as the same error name with a data-free message."""
    from cptverify.api.errors import step_error

    logger.append_keys(step=step, inquiry_id=event.get("inquiry_id"))
    try:
        return work()
    except Exception as exc:
        logger.info("step raised", extra={"error": type(exc).__name__})
        raise step_error(exc) from None
