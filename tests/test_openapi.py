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


def test_the_document_promises_only_what_the_api_takes() -> None:
    """No parameter accepts null (there is no way to send one in a query or a form: leave it out instead), the
    form limits and the upload limit are written down, and the answers for slow and crowded uploads are listed."""
    document = json.loads(render())
    chop = document["paths"]["/chop"]["post"]
    form = chop["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    for name, schema in [*((p["name"], p["schema"]) for p in chop["parameters"]), *form.items()]:
        assert "null" not in json.dumps(schema), name
        assert schema.get("default", 0) is not None, name
    assert form["max_length"]["type"] == "number" and form["format"]["enum"] == ["json", "zip"]
    for limit in ("32 parts", "1024 bytes", "SAMPLECHOP_MAX_UPLOAD_BYTES", "134217728", "Retry-After", "408"):
        assert limit in chop["description"], limit
    assert "Retry-After" in chop["responses"]["503"]["headers"]
    assert "request-timeout" in chop["responses"]["408"]["content"]["application/problem+json"]["examples"]
    assert chop["responses"]["200"]["links"]["GetZip"]["operationId"] == "getChopsZip"


def test_the_result_document_has_room_for_the_beat_grid() -> None:
    schemas = json.loads(render())["components"]["schemas"]
    document = schemas["ChopDocument"]["properties"]
    assert {"tempo_bpm", "beats_per_bar", "grid"} <= set(document)
    assert "required" not in schemas["ChopDocument"] or "tempo_bpm" not in schemas["ChopDocument"]["required"]
    assert set(schemas["BeatGrid"]["properties"]) == {"beats", "downbeats"}
