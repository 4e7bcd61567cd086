"""docs/openapi.json is generated from the routes; this fails when the two drift apart."""

from __future__ import annotations

from cptverify_local.harness import PROJECT_ROOT


def test_committed_openapi_matches_the_code() -> None:
    from cptverify.api.openapi import render

    committed = (PROJECT_ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert committed == render(), (
        "docs/openapi.json is stale: run "
        "`.venv/bin/python -m cptverify.api.openapi > docs/openapi.json`"
    )


def test_document_is_openapi_31_with_every_route() -> None:
    from cptverify.api.routes import openapi_document

    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/v1/inquiries",
        "/v1/inquiries/{id}",
        "/v1/inquiries/{id}/resubmit",
        "/v1/claims/{claim_id}/procedures",
        "/v1/claims/{claim_id}/procedures/{cpt}",
        "/v1/responses",
        "/v1/batches/{id}",
    }
    assert "Inquiry" in document["components"]["schemas"]


def test_template_routes_match_the_code() -> None:
    from cptverify.api.routes import openapi_document
    from cptverify_local.harness import load_template

    function = load_template()["Resources"]["InquiryApiFunction"]["Properties"]
    declared = {
        (e["Properties"]["Method"].lower(), e["Properties"]["Path"])
        for e in function["Events"].values()
    }
    coded = {
        (method, path)
        for path, operations in openapi_document()["paths"].items()
        for method in operations
    }
    assert declared == coded
