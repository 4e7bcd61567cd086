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
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "cptverify"))
