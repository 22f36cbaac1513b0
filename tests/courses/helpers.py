"""Building courses through the staff API, as staff would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]
API = "/api/v1"
NOW = datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def course_body(slug: str = "competencies-digitals-basiques", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "slug": slug,
        "format": "mooc",
        "title": {"ca": "Competències digitals bàsiques", "es": "Competencias digitales básicas"},
        "summary": {"ca": "Aprèn a moure't per internet amb seguretat."},
        "category": "ciutadania-digital",
        "tags": ["internet", "seguretat"],
        "digcomp": [{"code": "1.1", "level": 2}, {"code": "4.2", "level": 1}],
        "estimated_hours": 12,
        "languages": ["ca", "es"],
    }
    body.update(overrides)
    return body


def run_body(start_in_days: int = 7, weeks: int = 4, **overrides: Any) -> dict[str, Any]:
    starts = NOW + timedelta(days=start_in_days)
    body: dict[str, Any] = {
        "starts_at": iso(starts),
        "ends_at": iso(starts + timedelta(weeks=weeks)),
        "enrolment_opens_at": iso(NOW - timedelta(days=1)),
        "enrolment_closes_at": iso(starts + timedelta(days=3)),
        "capacity": 30,
    }
    body.update(overrides)
    return body


async def create_course(client: Client, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = await client.post(f"{API}/staff/courses", json=course_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def add_module(client: Client, headers: dict[str, str], course_id: str, title: str = "Mòdul 1") -> str:
    response = await client.post(
        f"{API}/staff/courses/{course_id}/modules", json={"title": {"ca": title}}, headers=headers
    )
    assert response.status_code == 201, response.text
    module_id: str = response.json()["id"]
    return module_id


async def add_article(
    client: Client,
    headers: dict[str, str],
    module_id: str,
    title: str = "Benvinguda",
    html: str = "<p>Hola</p>",
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/staff/modules/{module_id}/lessons",
        json={
            "kind": "article",
            "title": {"ca": title},
            "article_html": {"ca": html},
            "estimated_minutes": 10,
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def published_course(
    client: Client, headers: dict[str, str], slug: str = "competencies-digitals-basiques", **overrides: Any
) -> dict[str, Any]:
    """A ready MOOC with one module, one article and one open upcoming run, published."""
    course = await create_course(client, headers, slug=slug, **overrides)
    module_id = await add_module(client, headers, course["id"])
    await add_article(client, headers, module_id)
    if course["format"] != "instant":
        response = await client.post(
            f"{API}/staff/courses/{course['id']}/runs", json=run_body(), headers=headers
        )
        assert response.status_code == 201, response.text
    response = await client.post(f"{API}/staff/courses/{course['id']}/publish", headers=headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data
