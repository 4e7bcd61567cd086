"""The HTTP to REST proxy event adapter, against a trivial echo function over real sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cptverify_local.stack.http_api import (
    ApiKeyIdentity,
    LocalApi,
    LocalApiServer,
    Route,
    routes_from_template,
)

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "PartnerApi": {
            "Type": "AWS::Serverless::Api",
            "Properties": {"StageName": "v1", "Auth": {"ApiKeyRequired": True}},
        },
        "InquiryApiFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Events": {
                    "Submit": {
                        "Type": "Api",
                        "Properties": {
                            "RestApiId": {"Ref": "PartnerApi"},
                            "Path": "/v1/inquiries",
                            "Method": "post",
                        },
                    },
                    "Get": {
                        "Type": "Api",
                        "Properties": {
                            "RestApiId": {"Ref": "PartnerApi"},
                            "Path": "/v1/inquiries/{inquiry_id}",
                            "Method": "get",
                        },
                    },
                    "Procedures": {
                        "Type": "Api",
                        "Properties": {
                            "RestApiId": {"Ref": "PartnerApi"},
                            "Path": "/v1/claims/{claim_id}/procedures/{cpt}",
                            "Method": "get",
                        },
                    },
                    "Health": {
                        "Type": "Api",
                        "Properties": {
                            "RestApiId": {"Ref": "PartnerApi"},
                            "Path": "/v1/health",
                            "Method": "get",
                            "Auth": {"ApiKeyRequired": False},
                        },
                    },
                }
            },
        },
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
    }
}

KEY = ApiKeyIdentity(key_id="key-1", value="local-secret-key", tenant_id="tenant-a")
seen: list[tuple[str, dict[str, Any]]] = []


def echo(function: str, event: dict[str, Any]) -> dict[str, Any]:
    seen.append((function, event))
    if event["path"].endswith("/boom"):
        raise RuntimeError("CANARYMEMBER123")
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"X-Seen": ["a", "b"]},
        "body": json.dumps({"function": function, "pathParameters": event["pathParameters"]}),
    }


@pytest.fixture
def server() -> Iterator[LocalApiServer]:
    seen.clear()
    api = LocalApi(
        routes=routes_from_template(TEMPLATE),
        invoke=echo,
        keys=lambda value: KEY if value == KEY.value else None,
        stage="v1",
    )
    srv = LocalApiServer(api, port=0).start()
    yield srv
    srv.stop()


def test_routes_come_from_the_template() -> None:
    routes = routes_from_template(TEMPLATE)

    assert {(r.method, r.resource) for r in routes} == {
        ("POST", "/v1/inquiries"),
        ("GET", "/v1/inquiries/{inquiry_id}"),
        ("GET", "/v1/claims/{claim_id}/procedures/{cpt}"),
        ("GET", "/v1/health"),
    }
    assert all(r.function == "InquiryApiFunction" for r in routes)
    assert [r.api_key_required for r in routes if r.resource == "/v1/health"] == [False]


def api_event(path: str, method: str) -> dict[str, Any]:
    return {"Type": "Api", "Properties": {"Path": path, "Method": method}}


def test_literal_segments_win_over_parameters() -> None:
    routes = routes_from_template(
        {
            "Resources": {
                "F": {
                    "Type": "AWS::Serverless::Function",
                    "Properties": {
                        "Events": {
                            "A": {
                                "Type": "Api",
                                "Properties": {"Path": "/x/{id}", "Method": "get"},
                            },
                            "B": api_event("/x/new", "get"),
                            "C": {
                                "Type": "Api",
                                "Properties": {"Path": "/{proxy+}", "Method": "any"},
                            },
                        }
                    },
                }
            }
        }
    )

    assert [r.resource for r in routes] == ["/x/new", "/x/{id}", "/{proxy+}"]
    assert routes[2].match("DELETE", "/a/b/c") == {"proxy": "a/b/c"}


def test_request_becomes_a_rest_proxy_event(server: LocalApiServer) -> None:
    response = httpx.post(
        f"{server.url}/v1/inquiries?cpt=99213&cpt=97110&mode=x",
        headers={"x-api-key": KEY.value, "Prefer": "wait=5"},
        json={"hello": "world"},
    )

    assert response.status_code == 200
    assert response.headers.get_list("X-Seen") == ["a", "b"]
    function, event = seen[-1]
    assert function == "InquiryApiFunction"
    assert event["resource"] == "/v1/inquiries"
    assert event["path"] == "/v1/inquiries"
    assert event["httpMethod"] == "POST"
    assert event["headers"]["Prefer"] == "wait=5"
    assert event["queryStringParameters"] == {"cpt": "97110", "mode": "x"}
    assert event["multiValueQueryStringParameters"]["cpt"] == ["99213", "97110"]
    assert event["pathParameters"] is None
    assert json.loads(event["body"]) == {"hello": "world"}
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "v1"
    assert context["resourcePath"] == "/v1/inquiries"
    assert context["identity"]["apiKey"] == KEY.value
    assert context["identity"]["apiKeyId"] == KEY.key_id
    assert context["requestId"]


def test_path_parameters_are_extracted(server: LocalApiServer) -> None:
    response = httpx.get(
        f"{server.url}/v1/claims/CLM%2F1/procedures/99213", headers={"x-api-key": KEY.value}
    )

    assert response.json()["pathParameters"] == {"claim_id": "CLM/1", "cpt": "99213"}
    assert seen[-1][1]["resource"] == "/v1/claims/{claim_id}/procedures/{cpt}"


def test_missing_or_wrong_key_is_refused_before_the_function(server: LocalApiServer) -> None:
    missing = httpx.get(f"{server.url}/v1/inquiries/abc")
    wrong = httpx.get(f"{server.url}/v1/inquiries/abc", headers={"x-api-key": "nope"})
    open_route = httpx.get(f"{server.url}/v1/health")

    assert missing.status_code == wrong.status_code == 403
    assert missing.json() == {"message": "Forbidden"}
    assert open_route.status_code == 200
    assert len(seen) == 1


def test_unknown_route_answers_like_api_gateway(server: LocalApiServer) -> None:
    response = httpx.delete(f"{server.url}/v1/inquiries", headers={"x-api-key": KEY.value})

    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


def test_binary_body_is_base64(server: LocalApiServer) -> None:
    httpx.post(
        f"{server.url}/v1/inquiries",
        headers={"x-api-key": KEY.value, "Content-Type": "application/octet-stream"},
        content=b"\xff\x00ISA",
    )

    event = seen[-1][1]
    assert event["isBase64Encoded"] is True
    assert event["body"] == "/wBJU0E="


def test_a_crashing_function_is_a_502_without_detail(
    server: LocalApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    api = server.api
    api.routes.append(Route("GET", "/v1/boom", "InquiryApiFunction"))
    response = httpx.get(f"{server.url}/v1/boom", headers={"x-api-key": KEY.value})

    assert response.status_code == 502
    assert "CANARY" not in response.text
    assert "CANARY" not in capsys.readouterr().out


def test_local_routes_receive_the_identity(server: LocalApiServer) -> None:
    calls: list[str | None] = []

    def upload(event: dict[str, Any], identity: ApiKeyIdentity | None) -> dict[str, Any]:
        calls.append(identity.tenant_id if identity else None)
        return {"statusCode": 201, "body": event["body"]}

    server.api.local_routes[Route("PUT", "/local/schedules/{name}", "local")] = upload
    response = httpx.put(
        f"{server.url}/local/schedules/day.csv",
        headers={"x-api-key": KEY.value, "Content-Type": "text/csv"},
        content=b"a,b\n1,2\n",
    )

    assert response.status_code == 201
    assert response.text == "a,b\n1,2\n"
    assert calls == ["tenant-a"]


def test_oversized_body_is_413() -> None:
    api = LocalApi(routes=routes_from_template(TEMPLATE), invoke=echo, keys=lambda v: KEY)
    result = api.handle("POST", "/v1/inquiries", [], b"x" * (10 * 1024 * 1024 + 1))

    assert result["statusCode"] == 413
