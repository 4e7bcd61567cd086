"""Write the API's OpenAPI 3.1 document: `python -m cptverify.api.openapi > docs/openapi.json`."""

from __future__ import annotations

import json
import sys


def render() -> str:
    from cptverify.api.routes import openapi_document

    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
