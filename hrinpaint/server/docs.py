"""``/docs``: the API reference rendered from the OpenAPI document on the server, one plain HTML page.

FastAPI's own page loads Swagger UI from a CDN and stays blank offline; this page needs nothing but the server.
The raw document is at ``/openapi.json`` for tools.
"""

from __future__ import annotations

import html
import json
from typing import Any

_STYLE = """
body { font: 14px/1.5 system-ui, sans-serif; max-width: 980px; margin: 24px auto; padding: 0 16px; color: #1d1f24; }
h1 { margin-bottom: 4px; } h2 { margin-top: 32px; border-bottom: 1px solid #ddd; }
.op { border: 1px solid #d6d9e0; border-radius: 8px; padding: 10px 14px; margin: 14px 0; }
.verb { display: inline-block; min-width: 64px; font-weight: 700; }
.GET { color: #1b6ac9; } .POST { color: #14804a; } .DELETE { color: #c4302b; }
code, pre { background: #f3f4f7; border-radius: 4px; padding: 1px 4px; font-size: 13px; }
pre { padding: 8px; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
td, th { border-top: 1px solid #e3e5ea; padding: 4px 6px; text-align: left; vertical-align: top; }
.muted { color: #667; }
"""


def _text(value: Any) -> str:
    return html.escape(str(value)) if value is not None else ""


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type(option) for option in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_type(schema.get('items', {}))}"
    return str(schema.get("type", schema.get("format", "any")))


def _bounds(schema: dict[str, Any]) -> str:
    for option in [schema, *schema.get("anyOf", [])]:
        low, high = option.get("minimum"), option.get("maximum")
        if low is not None or high is not None:
            return f"{'' if low is None else low} to {'' if high is None else high}"
    return ""


def _fields_table(schema: dict[str, Any]) -> str:
    properties = schema.get("properties", {})
    if not properties:
        return ""
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{_text(name)}</code>{' *' if name in required else ''}</td><td>{_text(_type(field))}</td>"
        f"<td>{_text(_bounds(field))}</td><td>{_text(json.dumps(field['default']) if 'default' in field else '')}</td>"
        f"<td>{_text(field.get('description', ''))}</td></tr>"
        for name, field in properties.items()
    )
    return f"<table><tr><th>field</th><th>type</th><th>range</th><th>default</th><th>meaning</th></tr>{rows}</table>"


def _operation(path: str, verb: str, operation: dict[str, Any], schemas: dict[str, Any]) -> str:
    parts = [
        f'<div class="op"><span class="verb {verb.upper()}">{verb.upper()}</span> <code>{_text(path)}</code>',
        f"<p>{_text(operation.get('description') or operation.get('summary', ''))}</p>",
    ]
    parameters = operation.get("parameters", [])
    if parameters:
        items = "".join(f"<li><code>{_text(p['name'])}</code> ({_text(p.get('in'))})</li>" for p in parameters)
        parts.append(f"<p>Parameters:</p><ul>{items}</ul>")
    content = operation.get("requestBody", {}).get("content", {})
    for media_type, body in content.items():
        schema = body.get("schema", {})
        if "$ref" in schema:
            schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
        parts.append(f"<p>Body ({_text(media_type)}):</p>{_fields_table(schema)}")
    responses = operation.get("responses", {})
    if responses:
        items = "".join(
            f"<li><code>{_text(status)}</code> {_text(answer.get('description', ''))}</li>"
            for status, answer in responses.items()
        )
        parts.append(f"<p>Answers:</p><ul>{items}</ul>")
    parts.append("</div>")
    return "".join(parts)


def render_docs(openapi: dict[str, Any]) -> str:
    """The whole page: every operation with its form fields and answers, then every schema with its fields."""
    schemas = openapi.get("components", {}).get("schemas", {})
    info = openapi.get("info", {})
    operations = "".join(
        _operation(path, verb, operation, schemas)
        for path, verbs in openapi.get("paths", {}).items()
        for verb, operation in verbs.items()
    )
    models = "".join(
        f'<h3 id="{_text(name)}">{_text(name)}</h3><p class="muted">{_text(schema.get("description", ""))}</p>'
        f"{_fields_table(schema)}"
        for name, schema in sorted(schemas.items())
    )
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_text(info.get('title'))} API</title>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{_STYLE}</style></head><body>"
        f"<h1>{_text(info.get('title'))} API <span class='muted'>{_text(info.get('version'))}</span></h1>"
        f"<p>{_text(info.get('description'))}</p>"
        "<p class='muted'>The same as a machine-readable document: <a href='/openapi.json'>/openapi.json</a>. "
        "Back to <a href='/'>the page</a>.</p>"
        f"<h2>Endpoints</h2>{operations}<h2>Schemas</h2>{models}</body></html>"
    )
