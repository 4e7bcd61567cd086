"""Deployment settings read from the function environment (set by `template.yaml` Globals)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True, slots=True)
class Settings:
    table_name: str
    archive_bucket: str
    event_bus_name: str
    state_machine_arn: str
    retention_days: int
    freshness_hours: int
    max_retry_after_waits: int
    aws_threads: int


@cache
def settings() -> Settings:
    """The settings of this process; missing names fail loudly at first use, not per request."""
    env = os.environ
    return Settings(
        table_name=env.get("TABLE_NAME", "cptverify"),
        archive_bucket=env.get("ARCHIVE_BUCKET", "cptverify-archive"),
        event_bus_name=env.get("EVENT_BUS_NAME", "default"),
        state_machine_arn=env.get("STATE_MACHINE_ARN", ""),
        retention_days=int(env.get("DATA_RETENTION_DAYS", "30")),
        freshness_hours=int(env.get("RESULT_FRESHNESS_HOURS", "24")),
        max_retry_after_waits=int(env.get("MAX_RETRY_AFTER_WAITS", "3")),
        # The in-process moto stack sets 1 (moto is not thread-safe); see `cptverify.aws.parallel`.
        aws_threads=max(1, int(env.get("CPTVERIFY_AWS_THREADS", "8"))),
    )
