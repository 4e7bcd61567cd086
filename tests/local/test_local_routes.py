"""The local-only routes of `cptverify serve`: schedule upload and the batch reports.

A schedule uploaded through the local API becomes a batch whose view links report URLs the
same server answers (for the caller's tenant only); the upload's refusals have the API's error
shape. Runs on the module's embedded stack (see conftest).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cptverify_local.stack.api import build_local_api, local_batch_view
from cptverify_local.stack.embedded import LocalStack
from cptverify_local.stack.http_api import ApiKeyIdentity, LocalApiServer
from tests.local.conftest import CANARIES
from tests.local.test_end_to_end import HEADER, ingest_ready, row

pytestmark = pytest.mark.slow

OTHER = ApiKeyIdentity("other-key-id", "other-api-key-0123456789", "other")


@pytest.fixture(scope="module")
def server(local_stack: LocalStack) -> Iterator[LocalApiServer]:
    api = build_local_api(local_stack)
    local = api.keys
    api.keys = lambda value: OTHER if value == OTHER.value else local(value)
    srv = LocalApiServer(api, port=0).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server: LocalApiServer, local_stack: LocalStack) -> Iterator[httpx.Client]:
    headers = {"x-api-key": local_stack.api_key}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        yield http


def uploaded_batch(client: httpx.Client, stack: LocalStack) -> dict[str, Any]:
    """Upload a schedule with an unknown column and a bad row; the finished batch's view."""
    ingest_ready(stack)
    lines = [HEADER + ",Notes", row("L1", "ACME", "99213", claim="LC1") + ",call back"]
    lines.append(row("L2", "ACME", "") + ",")  # no procedures: an error report line
    put = client.put(
        "/local/schedules/local-routes.csv",
        content=("\n".join(lines) + "\n").encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert put.status_code == 201, put.text
    batch_id = put.json()["batch_id"]
    deadline = time.monotonic() + 60
    while True:
        view = client.get(f"/v1/batches/{batch_id}")
        assert view.status_code == 200, view.text
        if view.json()["status"] == "DONE" or time.monotonic() > deadline:
            body: dict[str, Any] = view.json()
            return body
        time.sleep(0.1)


def test_batch_view_links_reports_the_local_server_serves(
    client: httpx.Client, server: LocalApiServer, local_stack: LocalStack
) -> None:
    view = uploaded_batch(client, local_stack)

    assert view["status"] == "DONE"
    assert view["ignored_columns"] == ["Notes"]
    assert sorted(view["reports"]) == ["csv", "errors", "json"]
    for report in view["reports"].values():
        assert report["url"] == f"{server.url}/local/archive/{report['key']}"
        assert report["key"].startswith(f"results/{local_stack.tenant}/{view['batch_id']}/")
        served = client.get(report["url"])
        assert served.status_code == 200, served.text
        assert served.content == local_stack.get_object(report["key"])
        assert not any(c in served.text for c in CANARIES)
    assert client.get(view["reports"]["json"]["url"]).headers["content-type"] == (
        "application/json"
    )
    assert client.get(view["reports"]["errors"]["url"]).headers["content-type"] == "text/csv"
    assert "procedures" in client.get(view["reports"]["errors"]["url"]).text
    # Without the key the route is refused before it runs, like every other route.
    assert httpx.get(view["reports"]["csv"]["url"]).status_code == 403


@pytest.mark.parametrize(
    "key",
    [
        "results/other/b1/report.csv",  # another tenant's report
        "results/local/../other/b1/report.csv",  # a way out of the caller's folder
        "results/local//report.csv",
        "schedules/local/day.csv",  # outside results/
        "results/local",
        "results/local/b-none/report.csv",  # nothing there
    ],
)
def test_the_archive_route_serves_only_the_callers_results(
    client: httpx.Client, local_stack: LocalStack, key: str
) -> None:
    s3 = local_stack.aws.session.client("s3")
    s3.put_object(Bucket=local_stack.aws.bucket_name, Key="results/other/b1/report.csv", Body=b"x")
    s3.put_object(Bucket=local_stack.aws.bucket_name, Key="schedules/local/day.csv", Body=b"y")

    answer = client.get(f"/local/archive/{key}")

    assert answer.status_code == 404
    body = answer.json()
    assert body["error"] == "not_found" and body["message"] == "no such report"
    assert [f["field"] for f in body["fields"]] == ["path.key"]


def test_another_tenant_cannot_read_this_tenants_reports(
    client: httpx.Client, local_stack: LocalStack
) -> None:
    key = f"results/{local_stack.tenant}/b-mine/report.csv"
    s3 = local_stack.aws.session.client("s3")
    s3.put_object(Bucket=local_stack.aws.bucket_name, Key=key, Body=b"mine")

    mine = client.get(f"/local/archive/{key}")
    theirs = client.get(f"/local/archive/{key}", headers={"x-api-key": OTHER.value})

    assert mine.status_code == 200 and mine.content == b"mine"
    assert theirs.status_code == 404 and b"mine" not in theirs.content


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("day.csv", b"", "body"),
        (".hidden.csv", b"a,b\n", "path.name"),
        ("x" * 201, b"a,b\n", "path.name"),
    ],
)
def test_upload_refusals_have_the_api_error_shape(
    client: httpx.Client, name: str, body: bytes, field: str
) -> None:
    answer = client.put(f"/local/schedules/{name}", content=body)

    assert answer.status_code == 400
    error = answer.json()
    assert set(error) == {"error", "message", "fields"}
    assert error["error"] == "bad_request" and error["message"]
    assert [f["field"] for f in error["fields"]] == [field]
    assert all(f["rule"] for f in error["fields"])


def test_only_a_successful_batch_view_is_rewritten() -> None:
    refused = {"statusCode": 404, "body": '{"error": "not_found"}'}
    view = {
        "statusCode": 200,
        "body": '{"reports": {"csv": {"key": "results/t/b/report.csv", "url": "https://s3"}}}',
    }

    assert local_batch_view(refused, "127.0.0.1:3000") is refused
    rewritten = local_batch_view(view, "127.0.0.1:3000")
    assert '"url": "http://127.0.0.1:3000/local/archive/results/t/b/report.csv"' in str(
        rewritten["body"]
    )


@pytest.mark.parametrize(
    "path",
    [
        "/local/archive/results/local/../other/b1/report.csv",
        "/local/archive/results/local/%2E%2E/other/b1/report.csv",
        "/local/archive/results/local/b1%5C..%5Creport.csv",
    ],
)
def test_dot_segments_are_refused_as_sent(
    server: LocalApiServer, local_stack: LocalStack, path: str
) -> None:
    # Straight to the router: an HTTP client would tidy the dot segments away before sending.
    answer = server.api.handle("GET", path, [("x-api-key", local_stack.api_key)], b"")

    assert answer["statusCode"] == 404
    assert "no such report" in answer["body"]
