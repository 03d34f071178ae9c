"""The audit log page: newest first, fifty a page, an "Older" link to the rest."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.accounts import CLI, DEVICE_ADDED
from tests.web.accounts_helpers import sign_in


def subjects(html: str) -> list[str]:
    return re.findall(r'<td class="detail">(device-\d+)</td>', html)


def test_lines_come_newest_first_fifty_a_page(client: TestClient) -> None:
    sign_in(client, "root")
    audit = client.app.state.services.accounts.audit  # type: ignore[attr-defined]
    for n in range(60):
        audit.add(DEVICE_ADDED, CLI, f"device-{n}", "detail")
    first = client.get("/admin/audit")
    assert first.status_code == 200
    assert subjects(first.text) == [f"device-{n}" for n in range(59, 9, -1)]
    assert '<time datetime="' in first.text and "device added" in first.text
    older = re.search(r'href="/admin/audit\?before=(\d+)" rel="next">Older', first.text)
    assert older
    second = client.get(f"/admin/audit?before={older.group(1)}")
    assert subjects(second.text) == [f"device-{n}" for n in range(9, -1, -1)]
    assert 'rel="next"' not in second.text
    assert client.get("/admin/audit?before=nonsense").status_code == 422
