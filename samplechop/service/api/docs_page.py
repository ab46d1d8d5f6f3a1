"""``GET /docs``: the API reference as one static HTML page rendered from the OpenAPI document, no script at all.

Why not Swagger UI: it is ~1.5 MB of third-party JavaScript that either loads from a CDN (broken offline, and code
from elsewhere running on this origin) or has to be vendored as a new runtime dependency of the service image. A
page rendered on the server from the same document works offline, keeps the strict content security policy
(its one inline style is allowed by hash; no script), and says everything a client needs; ``/openapi.json`` is
there for tools (code generators, schemathesis, a local Swagger UI or Postman).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from typing import Any

from samplechop.service.api.headers import CONTENT_SECURITY_POLICY

STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}"
    "h2{margin-top:2.5rem;border-bottom:1px solid #ccc}code,pre{font-family:ui-monospace,monospace;font-size:.9em}"
    "pre{background:#f4f4f6;padding:.6rem;overflow-x:auto}table{border-collapse:collapse;width:100%}"
    "td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}"
    ".method{font-weight:700;text-transform:uppercase}"
)
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
DOCS_CSP = CONTENT_SECURITY_POLICY.replace("style-src 'self'", f"style-src 'sha256-{STYLE_HASH}'")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _schema_text(schema: dict[str, Any]) -> str:
    """A one-line summary of a parameter's schema: type, range, choices, default."""
    parts = [str(schema.get("type", "any"))]
    if "enum" in schema:
        parts.append("one of " + ", ".join(json.dumps(choice) for choice in schema["enum"]))
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
        if key in schema:
            parts.append(f"{sign} {schema[key]}")
    if "default" in schema:
        parts.append(f"default {json.dumps(schema['default'])}")
    return ", ".join(parts)


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{_e(block)}</p>" for block in text.split("\n\n") if block.strip())


def _parameters(operation: dict[str, Any]) -> str:
    rows = [
        f"<tr><td><code>{_e(p['name'])}</code></td><td>{_e(p['in'])}</td>"
        f"<td>{_e(_schema_text(p.get('schema', {})))}</td><td>{_e(p.get('description', ''))}</td></tr>"
        for p in operation.get("parameters", [])
    ]
    for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
        schema = content.get("schema", {})
        required = set(schema.get("required", []))
        for name, field in schema.get("properties", {}).items():
            where = f"{media_type} part" + (" (required)" if name in required else "")
            rows.append(
                f"<tr><td><code>{_e(name)}</code></td><td>{_e(where)}</td>"
                f"<td>{_e(_schema_text(field))}</td><td>{_e(field.get('description', ''))}</td></tr>"
            )
    if not rows:
        return ""
    head = "<tr><th>name</th><th>in</th><th>schema</th><th>meaning</th></tr>"
    return f"<h4>Parameters</h4><table>{head}{''.join(rows)}</table>"


def _responses(operation: dict[str, Any]) -> str:
    items = []
    for status, response in operation.get("responses", {}).items():
        media = ", ".join(response.get("content", {}))
        examples = []
        for content in response.get("content", {}).values():
            if "example" in content and not isinstance(content["example"], str):
                examples.append(content["example"])
            examples += [example["value"] for example in content.get("examples", {}).values()]
        shown = "".join(f"<pre>{_e(json.dumps(example, indent=2, ensure_ascii=False))}</pre>" for example in examples)
        items.append(
            f"<li><b>{_e(status)}</b> {_e(response.get('description', ''))} <code>{_e(media)}</code>{shown}</li>"
        )
    return f"<h4>Answers</h4><ul>{''.join(items)}</ul>"


def render_docs(document: dict[str, Any]) -> str:
    """The reference page of an OpenAPI document."""
    info = document.get("info", {})
    sections = []
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            sections.append(
                f"<h2><span class=method>{_e(method)}</span> <code>{_e(path)}</code></h2>"
                f"<p><b>{_e(operation.get('summary', ''))}</b></p>{_paragraphs(operation.get('description', ''))}"
                f"{_parameters(operation)}{_responses(operation)}"
            )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{_e(info.get('title', 'API'))} API</title><style>{STYLE}</style></head><body>"
        f"<h1>{_e(info.get('title', 'API'))} API <small>{_e(info.get('version', ''))}</small></h1>"
        f"{_paragraphs(info.get('description', ''))}"
        "<p>The machine-readable document: <a href='/openapi.json'><code>/openapi.json</code></a> (OpenAPI "
        f"{_e(document.get('openapi', ''))}). Errors are <code>application/problem+json</code>.</p>"
        f"{''.join(sections)}</body></html>"
    )
