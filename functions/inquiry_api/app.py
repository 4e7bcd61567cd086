"""Partner REST API handler (API Gateway REST proxy events)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from cptverify.api.routes import bind_lambda_context, serve
from cptverify.observability import logger, tracer


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    bind_lambda_context(context)
    return serve(event, context)
