"""Logger, Tracer and Metrics, built once and imported everywhere.

Log messages are fixed lower-case phrases with keyword fields: ids, codes, counts, timings.
Never names, member ids, birth dates or X12 text. The correlation id of a request or an inquiry
is set with `logger.set_correlation_id` or `logger.append_keys(inquiry_id=...)`.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "cptverify")

logger = Logger(service=SERVICE)
# Only the AWS SDK is patched when the module loads; the payer HTTP client (httpx) is patched
# by the exchange right before it opens one (`trace_payer_http`), so no other function loads
# httpx, and the X-Ray patcher does not import libraries we never call (requests, sqlite3).
tracer = Tracer(service=SERVICE, patch_modules=("botocore",))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "cptverify"))


def trace_payer_http() -> None:
    """Trace the payer HTTP client (httpx) from here on; call before the client is built."""
    tracer.patch(("httpx",))
