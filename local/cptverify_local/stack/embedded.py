"""The embedded stack: the template's resources in moto, our handlers, the payer simulator.

`embedded_stack()` starts the payer simulator on a free loopback port with its default plan
book, points the payer registry at it (`CPTVERIFY_PAYER_BASE_URL`), then starts moto through
the project's harness, which creates what `template.yaml` declares from the template itself
(short local retry intervals) and registers a local tenant and API key. On exit it waits for
running executions, stops moto and the simulator, and restores the environment: nothing keeps
running.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cptverify_local.stack.parts import PLAN_BOOK, STACK_PARTS, missing

if TYPE_CHECKING:
    from cptverify_local.harness import AwsStack
    from cptverify_local.simulator import SimulatorServer
    from cptverify_local.simulator.planbook import PlanBook

# Local retry budgets: every interval short, so a payer that is down for its first requests
# recovers within a demo. The harness records backoffs instead of sleeping them.
LOCAL_OVERRIDES: dict[str, str] = {
    "Stage": "local",
    "RealtimeRetryIntervalSeconds": "1",
    "RealtimeRetryMaxDelaySeconds": "2",
    "TimeoutRetrySeconds": "1",
    "BatchRetryIntervalSeconds": "1",
    "BatchRetryMaxDelaySeconds": "2",
    "RetryAfterCapSeconds": "1",
}
TERMINAL = ("COMPLETED", "REJECTED", "FAILED")


class StackPartsMissing(RuntimeError):
    """The stack cannot start because parts of the project are not there (named)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__("missing: " + "; ".join(names))
        self.names = names


@dataclass(frozen=True)
class UploadedSchedule:
    """A schedule stored in the local bucket, and the batch it became."""

    key: str
    version: str
    batch_id: str


@dataclass
class LocalStack:
    """A running embedded stack: moto resources, handlers, simulator, local tenant and key."""

    aws: AwsStack
    simulator: SimulatorServer
    tenant: str
    api_key: str
    api_key_id: str

    # -- what the stack skipped ------------------------------------------------------------

    def skipped_lines(self) -> list[str]:
        """One line per template resource not created locally, with the reason."""
        resources = self.aws.template.get("Resources", {})
        return [
            f"{name} ({resources.get(name, {}).get('Type', '?')}): {why}"
            for name, why in sorted(self.aws.skipped.items())
        ]

    # -- schedules and batches -------------------------------------------------------------

    def ingest_function(self) -> str | None:
        """The function the template subscribes to the bucket's object-created events."""
        for name, resource in self.aws.template.get("Resources", {}).items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            for event in (resource.get("Properties", {}).get("Events") or {}).values():
                pattern = (event.get("Properties") or {}).get("Pattern") or {}
                if event.get("Type") == "S3" or pattern.get("source") == ["aws.s3"]:
                    return str(name)
        return None

    def upload_schedule(
        self, name: str, body: bytes, tenant: str | None = None
    ) -> UploadedSchedule:
        """Put a schedule under `schedules/TENANT/`; the bucket notification runs the ingest.

        The batch id is the one the ingest derived from the notification (moto's notification
        names the object version in its own way), found by the object's key and version.
        """
        tenant = tenant or self.tenant
        key = f"schedules/{tenant}/{name}"
        put = self.aws.session.client("s3").put_object(
            Bucket=self.aws.bucket_name, Key=key, Body=body, ContentType="text/csv"
        )
        version = str(put.get("VersionId") or "")
        return UploadedSchedule(key=key, version=version, batch_id=self._batch_for(key, version))

    def _batch_for(self, key: str, version: str, timeout_s: float = 30.0) -> str:
        from boto3.dynamodb.conditions import Attr

        table = self.aws.session.resource("dynamodb").Table(self.aws.table_name)
        condition = Attr("sk").eq("BATCH") & Attr("source_key").eq(key)
        deadline = time.monotonic() + timeout_s
        while True:
            found: list[dict[str, Any]] = []
            kwargs: dict[str, Any] = {"FilterExpression": condition}
            while True:
                page = table.scan(**kwargs)
                found += page.get("Items", [])
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            exact = [i for i in found if version and version in str(i.get("source_version"))]
            if exact or found:
                best = exact or sorted(found, key=lambda i: int(i.get("created_at", 0)))
                return str(best[-1]["batch_id"])
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no batch was created for {key}")
            time.sleep(0.05)

    def batch(self, batch_id: str, tenant: str | None = None) -> dict[str, Any] | None:
        """The batch item (counts, status, report keys), or None before ingest wrote it."""
        from cptverify.schedules.progress import get_batch

        return get_batch(tenant or self.tenant, batch_id)

    def wait_batch(
        self,
        batch_id: str,
        timeout_s: float = 120.0,
        on_poll: Callable[[dict[str, Any] | None], None] | None = None,
    ) -> dict[str, Any] | None:
        """Poll the batch until it is DONE (or `timeout_s` passes); its last state."""
        deadline = time.monotonic() + timeout_s
        while True:
            item = self.batch(batch_id)
            if on_poll is not None:
                on_poll(item)
            if item is not None and item.get("status") == "DONE":
                return item
            if time.monotonic() >= deadline:
                return item
            time.sleep(0.1)

    def get_object(self, key: str) -> bytes:
        s3 = self.aws.session.client("s3")
        body: bytes = s3.get_object(Bucket=self.aws.bucket_name, Key=key)["Body"].read()
        return body

    def list_keys(self, prefix: str) -> list[str]:
        s3 = self.aws.session.client("s3")
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.aws.bucket_name, Prefix=prefix
        )
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def copy_results(self, batch_id: str, out_dir: Path, tenant: str | None = None) -> list[Path]:
        """Copy `results/TENANT/BATCH/*` from the local bucket into `out_dir`; the paths."""
        prefix = f"results/{tenant or self.tenant}/{batch_id}/"
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for key in self.list_keys(prefix):
            target = out_dir / key.removeprefix(prefix)
            target.write_bytes(self.get_object(key))
            written.append(target)
        return sorted(written)

    # -- payer-side and retry figures ------------------------------------------------------

    def payer_calls(self) -> int:
        """Requests the simulator received, across every payer."""
        return int(self.simulator.metrics().get("total_requests", 0))

    def retries(self) -> int:
        """Retry backoffs and Retry-After waits the state machine took (harness clock)."""
        return len(self.aws.clock.sleeps) + len(self.aws.clock.waits)

    def batch_inquiries(self, batch_id: str) -> list[dict[str, Any]]:
        """The inquiry items of one batch (a scan: fine for a local table)."""
        from boto3.dynamodb.conditions import Attr

        table = self.aws.session.resource("dynamodb").Table(self.aws.table_name)
        condition = Attr("sk").eq("INQUIRY") & Attr("batch_id").eq(batch_id)
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"FilterExpression": condition}
        while True:
            page = table.scan(**kwargs)
            items += [dict(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def batch_retries(self, batch_id: str) -> int:
        """Attempts beyond the first, over the batch's inquiries (backoffs and Retry-After)."""
        return sum(max(0, int(i.get("attempts", 0)) - 1) for i in self.batch_inquiries(batch_id))

    def execution_statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for execution in self.aws.executions():
            counts[execution["status"]] = counts.get(execution["status"], 0) + 1
        return counts


def _forget_payer_connectors() -> None:
    """Close the process-wide payer connectors: each holds the base URL and circuit state of
    the simulator it was made for, and the next stack's simulator listens on another port."""
    from cptverify.payers.connector import reset_connectors

    reset_connectors()


@contextmanager
def embedded_stack(
    plan_book: str | Path | PlanBook | None = None,
    *,
    overrides: Mapping[str, str] | None = None,
    concurrency: int = 1,
    canned: bool = False,
    environment: Mapping[str, str] | None = None,
    seed: int = 7,
    template_path: Path | None = None,
) -> Iterator[LocalStack]:
    """Start simulator and moto stack for the `with` block; stop both after it.

    Raises `StackPartsMissing` naming what is absent instead of starting half a stack.
    """
    absent = missing(STACK_PARTS)
    if absent:
        raise StackPartsMissing(absent)

    from cptverify_local.harness import AwsStack
    from cptverify_local.harness.stack import LOCAL_API_KEY, LOCAL_API_KEY_ID, LOCAL_TENANT
    from cptverify_local.simulator import running_simulator

    book = plan_book or PLAN_BOOK
    with running_simulator(book, canned=canned, seed=seed) as simulator:
        env = {
            "CPTVERIFY_PAYER_BASE_URL": simulator.url,
            "CPTVERIFY_FRESHNESS_SECRET": secrets.token_hex(16),
            **(environment or {}),
        }
        stack = AwsStack(
            overrides={**LOCAL_OVERRIDES, **(overrides or {})},
            concurrency=concurrency,
            environment=env,
            template_path=template_path,
        )
        _forget_payer_connectors()
        try:
            with stack:
                yield LocalStack(
                    aws=stack,
                    simulator=simulator,
                    tenant=LOCAL_TENANT,
                    api_key=LOCAL_API_KEY,
                    api_key_id=LOCAL_API_KEY_ID,
                )
        finally:
            _forget_payer_connectors()
