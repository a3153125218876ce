"""The page's ES modules: every import names a module that is served and a name that module exports.

A wrong import leaves the page blank in the browser with one console line; this finds it without a browser.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hrinpaint.server import ServerSettings, create_app

STATIC = Path(__file__).parents[1] / "hrinpaint" / "server" / "static"
IMPORT = re.compile(r'^import \{([^}]*)\} from "\./([\w-]+\.js)";', re.MULTILINE)
EXPORT = re.compile(r"^export (?:async )?(?:function|const|let|class) ([\w$]+)", re.MULTILINE)


def _modules() -> dict[str, str]:
    return {path.name: path.read_text() for path in STATIC.glob("*.js")}


def test_every_import_is_an_export_of_a_served_module():
    modules = _modules()
    assert {"app.js", "api.js", "canvas.js", "options.js"} <= set(modules)
    exports = {name: set(EXPORT.findall(text)) for name, text in modules.items()}
    reached, todo = set(), ["app.js"]
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        for names, target in IMPORT.findall(modules[name]):
            assert target in modules, f"{name} imports {target}, which is not in static/"
            wanted = {item.strip() for item in names.split(",") if item.strip()}
            assert wanted <= exports[target], f"{name} imports {sorted(wanted - exports[target])} from {target}"
            todo.append(target)
    assert reached == set(modules), f"modules nothing imports: {sorted(set(modules) - reached)}"
    assert 'type="module" src="/static/app.js"' in (STATIC / "index.html").read_text()


@pytest.mark.parametrize("name", sorted(path.name for path in STATIC.glob("*.js")))
def test_each_module_is_served_as_javascript(name):
    client = TestClient(create_app(ServerSettings(max_pixels=10**6)))
    response = client.get(f"/static/{name}")
    assert response.status_code == 200 and "javascript" in response.headers["content-type"]
    assert response.headers["cache-control"] == "no-cache"  # never a mix of two versions' modules
    again = client.get(f"/static/{name}", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
