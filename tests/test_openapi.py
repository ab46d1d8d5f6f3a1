"""The committed OpenAPI document is what the app generates, and documents what clients need."""

from __future__ import annotations

import json

from service.api.openapi import OPENAPI_PATH, render


def test_committed_openapi_matches_the_app() -> None:
    assert OPENAPI_PATH.exists(), "run: python -m service.api.openapi"
    assert OPENAPI_PATH.read_text() == render(), "openapi/openapi.json drifted; run: python -m service.api.openapi"


def test_openapi_documents_the_chop_endpoint() -> None:
    document = json.loads(render())
    chop = document["paths"]["/chop"]["post"]
    query = {parameter["name"] for parameter in chop["parameters"]}
    assert {"lambda", "top_n", "chops", "format"} <= query
    form = chop["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file"]
    assert {"file", "lambda", "top_n", "chops", "format"} <= set(form["properties"])
    answers = chop["responses"]["200"]["content"]
    assert answers["application/json"]["example"]["zip_url"].startswith("/chops/")
    assert "application/zip" in answers
    for status in ("400", "413", "415", "422", "503"):
        examples = chop["responses"][status]["content"]["application/problem+json"]["examples"]
        assert all(example["value"]["status"] == int(status) for example in examples.values())
    assert "/chops/{result_id}.zip" in document["paths"]
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in json.dumps(document)
