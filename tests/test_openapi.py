"""The committed OpenAPI document is what the app generates, and documents what clients need."""

from __future__ import annotations

import json

from samplechop.service.api.openapi import OPENAPI_PATH, render


def test_committed_openapi_matches_the_app() -> None:
    assert OPENAPI_PATH.exists(), "run: python -m samplechop.service.api.openapi"
    assert OPENAPI_PATH.read_text() == render(), (
        "openapi/openapi.json drifted; run: python -m samplechop.service.api.openapi"
    )


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
    for limit in ("32 parts", "2048 bytes", "SAMPLECHOP_MAX_UPLOAD_BYTES", "134217728", "Retry-After", "408"):
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


def test_the_web_pages_fields_are_documented_with_their_choices() -> None:
    """samplechop/service/static/js/api.js enables a control only when POST /chop documents its field (and its choices):
    these names and enums are what the page sends."""
    document = json.loads(render())
    chop = document["paths"]["/chop"]["post"]
    form = chop["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    query = {parameter["name"]: parameter["schema"] for parameter in chop["parameters"]}
    expected = {
        "mode": ["to-next", "bars", "beats", "one-shot"],
        "bars": [1, 2, 4],
        "export": ["zip", "sfz", "xpm", "midi"],
        "snap": ["grid", "onset", "off"],
        "bit_depth": [16, 24],
    }
    for name, choices in expected.items():
        assert form[name]["enum"] == choices == query[name]["enum"], name
    assert form["points"]["type"] == "string" and form["points"]["maxLength"] >= 128 * len("599.123456,")
    assert form["beats"]["type"] == "number" and form["beats"]["exclusiveMinimum"] == 0
    assert {"points", "snap", "mode", "bars", "beats", "export", "bit_depth", "max_length"} <= set(query)


def test_the_schema_is_the_parameter_table() -> None:
    """One definition: every chop parameter of the engine appears in the API under its public name, with the
    table's default, bounds and help, and the page's points pattern accepts what the parser does."""
    import re

    from samplechop.service.parameters import PARAMETERS, InvalidParameters, parse_points

    document = json.loads(render())
    form = document["paths"]["/chop"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    properties = form["properties"]
    for parameter in PARAMETERS:
        schema = properties[parameter.name]
        assert schema["description"].startswith(parameter.help), parameter.name
        assert schema.get("default") == parameter.default, parameter.name
        if parameter.minimum is not None:
            key = "exclusiveMinimum" if parameter.exclusive_minimum else "minimum"
            assert schema[key] == parameter.minimum and schema["maximum"] == parameter.maximum, parameter.name
    # JSON Schema patterns are ECMA-262 regular expressions: `$` is the end of the text (Python's is `\\Z`)
    pattern = re.compile(properties["points"]["pattern"].replace("$", r"\Z"))
    for text in ("1", "0.5,1.25, 3", " 2.000001 ,3", "", "1e3", "-1", "1,,2", "1.", "inf", "1;2", "1\n"):
        documented = bool(pattern.search(text))
        try:
            accepted = not text.strip(" ") or bool(parse_points(text))
        except InvalidParameters:
            accepted = False
        assert documented == accepted, text


def test_the_reference_names_every_parameter() -> None:
    from samplechop.service.parameters import PARAMETERS

    reference = (OPENAPI_PATH.parents[1] / "docs" / "service.md").read_text()
    for parameter in PARAMETERS:
        assert f"| `{parameter.name}` |" in reference, parameter.name
