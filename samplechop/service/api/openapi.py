"""The OpenAPI document: built from the app, written to ``openapi/openapi.json`` by ``python -m
samplechop.service.api.openapi``.

``tests/test_openapi.py`` fails when the committed file drifts from what the app generates.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi.openapi.utils import get_openapi

from samplechop.service.api.problems import Problem

if TYPE_CHECKING:
    from fastapi import FastAPI

OPENAPI_PATH = Path(__file__).resolve().parents[3] / "openapi" / "openapi.json"


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the Problem schema the problem+json responses refer to (cached on the app)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes, tags=app.openapi_tags
        )
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = Problem.model_json_schema()
        # FastAPI adds its own 422 shape to every route with parameters; the routes that can answer 422 declare
        # it as a Problem (see examples.py), so what FastAPI added is for routes that cannot: drop it.
        for operation in (op for path in schema.get("paths", {}).values() for op in path.values()):
            if "HTTPValidationError" in json.dumps(operation.get("responses", {}).get("422", {})):
                del operation["responses"]["422"]
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        app.openapi_schema = schema
    return app.openapi_schema


def render() -> str:
    """The OpenAPI document of an app with default settings, as committed."""
    from samplechop.service.api.app import create_app
    from samplechop.service.api.settings import Settings

    return json.dumps(create_app(Settings()).openapi(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write the service's OpenAPI document")
    parser.add_argument("--out", type=Path, default=OPENAPI_PATH, help=f"where to write it ({OPENAPI_PATH})")
    parser.add_argument("--check", action="store_true", help="only check that the file is up to date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.out.exists() or args.out.read_text() != text:
            print(f"{args.out} is out of date; run python -m samplechop.service.api.openapi", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
