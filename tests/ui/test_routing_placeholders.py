"""The routing editor says what `$me`, `$port` and `$caller` mean on this box, and offers a valid
example (switched off) when there is no routing.json."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from magickbox.app import create_app
from magickbox.config import load_settings
from magickbox.models.routing import validate
from magickbox.store import Store


def test_placeholders_show_this_boxs_values_and_the_example_is_valid(tmp_path: Path) -> None:
    settings = load_settings(
        data=str(tmp_path / "data"), route_me="10.1.2.3", route_port=4242, dicom_port=11113
    )
    store = Store(settings)
    try:
        with TestClient(create_app(settings, store), base_url="http://localhost") as client:
            page = client.get("/ui/routing").text
    finally:
        store.db.close()
    table = page[page.index('id="routing-placeholders"') :]
    assert re.search(r'"\$me"</code></td><td class="mono">10\.1\.2\.3<', table)
    assert re.search(r'"\$port"</code></td><td class="mono">4242<', table)
    assert "not this box's own DICOM port 11113" in html.unescape(table)
    text = html.unescape(page.split('id="routing-text"')[1].split(">", 1)[1].split("</textarea>")[0])
    example = validate(json.loads(text))
    assert not any(rule.active for rule in example.routing)  # saving the example sends nothing
