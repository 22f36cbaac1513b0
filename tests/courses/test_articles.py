"""Article HTML is sanitized before it is stored: real attack strings never reach the database."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from courses.deps import sanitizer_for
from courses.models import Lesson
from lms.accounts.models import Role
from lms.settings import Settings
from tests.courses.helpers import API, Client, add_module, create_course
from tests.support import Factory

ATTACKS = [
    "<script>alert(document.cookie)</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href="&#106;avascript:alert(1)">click</a>',
    '<a href=" javascript:alert(1)">click</a>',
    '<svg onload="alert(1)"><circle r="1"/></svg>',
    "<math><mtext><script>alert(1)</script></mtext></math>",
    '<iframe src="https://evil.example/"></iframe>',
    '<p style="background:url(javascript:alert(1))">styled</p>',
    "<style>body{display:none}</style>",
    '<div onclick="alert(1)" onmouseover="alert(2)">hover</div>',
    '<object data="https://evil.example/x.swf"></object>',
    '<form action="https://evil.example"><input name="password"></form>',
    '<img src="https://evil.example/pixel.png">',
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    "<scr<script>ipt>alert(1)</script>",
    '<a href="vbscript:msgbox(1)">vb</a>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<base href="https://evil.example/">',
]
FORBIDDEN = (
    "<script",
    "onerror",
    "onload",
    "onclick",
    "javascript:",
    "vbscript:",
    "<svg",
    "<iframe",
    "style=",
    "<style",
    "<object",
    "<form",
    "<input",
    "evil.example",
    "data:",
    "<meta",
    "<base",
    "<math",
)


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_strings_are_neutralised(settings: Settings, attack: str) -> None:
    cleaned = sanitizer_for(settings).clean(f"<p>before</p>{attack}<p>after</p>").lower()
    for marker in FORBIDDEN:
        assert marker not in cleaned, (attack, cleaned)
    assert "<p>before</p>" in cleaned
    assert "<p>after</p>" in cleaned


def test_allowed_markup_survives_and_links_get_rel(settings: Settings) -> None:
    html = (
        "<h2>Títol</h2><p>Un <strong>text</strong> amb <em>èmfasi</em> i "
        '<a href="https://barcelonactiva.cat">un enllaç</a>.</p>'
        "<ul><li>u</li></ul><ol><li>d</li></ol><blockquote>cita</blockquote>"
        "<pre><code>print('hola')</code></pre>"
        "<table><thead><tr><th>A</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>"
        f'<img src="{settings.public_url}/files/public/cover.png" alt="portada">'
    )
    cleaned = sanitizer_for(settings).clean(html)
    assert "<h2>Títol</h2>" in cleaned
    assert '<a href="https://barcelonactiva.cat" rel="noopener noreferrer">un enllaç</a>' in cleaned
    assert "<table>" in cleaned
    assert "<blockquote>cita</blockquote>" in cleaned
    assert f'src="{settings.public_url}/files/public/cover.png"' in cleaned


async def test_stored_article_is_the_sanitized_one(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await create_course(client, staff)
    module = await add_module(client, staff, course["id"])
    dirty = '<p>Hola</p><script>alert(1)</script><a href="javascript:alert(1)" onclick="x()">x</a>'

    response = await client.post(
        f"{API}/staff/modules/{module}/lessons",
        json={"kind": "article", "title": {"ca": "Hola"}, "article_html": {"ca": dirty, "es": dirty}},
        headers=staff,
    )

    assert response.status_code == 201, response.text
    shown = response.json()["article_html"]["ca"]
    stored = (await db.execute(select(Lesson.article_html))).scalar_one()
    assert stored["ca"] == shown == stored["es"]
    assert "script" not in shown
    assert "javascript" not in shown
    assert "onclick" not in shown
    assert shown == '<p>Hola</p><a rel="noopener noreferrer">x</a>'


async def test_big_article_within_the_limit_is_accepted_and_over_it_413(
    client: Client, factory: Factory, settings: Settings
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await create_course(client, staff)
    module = await add_module(client, staff, course["id"])
    paragraph = "<p>" + "Digital skills open doors to work. " * 20 + "</p>"
    big = paragraph * ((settings.max_request_body - 10_000) // len(paragraph))

    accepted = await client.post(
        f"{API}/staff/modules/{module}/lessons",
        json={"kind": "article", "title": {"ca": "Llarg"}, "article_html": {"ca": big}},
        headers=staff,
    )
    too_big = await client.post(
        f"{API}/staff/modules/{module}/lessons",
        json={"kind": "article", "title": {"ca": "Massa"}, "article_html": {"ca": big + big}},
        headers=staff,
    )

    assert accepted.status_code == 201, accepted.text[:300]
    assert len(accepted.json()["article_html"]["ca"]) == len(big)
    assert too_big.status_code == 413
