"""The app shell: health, metrics, OpenAPI, CORS and settings that refuse unsafe production values."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pydantic import SecretStr, ValidationError

from lms.app import create_app
from lms.settings import Settings

Client = AsyncTestClient[Litestar]


async def test_liveness_and_readiness(client: Client) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "storage": "ok"}


async def test_metrics_count_requests_by_route(client: Client) -> None:
    await client.get("/health/live")
    scraped = await client.get("/metrics")
    text = scraped.text
    assert scraped.headers["content-type"] == "text/plain; version=1.0.0; charset=utf-8"
    assert 'aula_http_requests_total{method="GET",route="/health/live",status="200"}' in text
    assert "aula_http_request_duration_seconds_bucket" in text


def _samples(text: str, name: str, **labels: str) -> dict[str, float]:
    """The values of one metric's samples whose labels include ``labels``, by their ``le`` (or "")."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        label_text, value = line[len(name) + 1 :].rsplit("} ", 1)
        pairs = dict(part.split("=", 1) for part in label_text.split(","))
        if all(pairs.get(k) == f'"{v}"' for k, v in labels.items()):
            found[pairs.get("le", '""').strip('"')] = float(value)
    return found


async def test_metrics_counts_and_latency_buckets_add_up(client: Client) -> None:
    route = {"method": "GET", "route": "/api/v1/courses/{slug}"}
    before = await client.get("/metrics")
    for _ in range(3):
        assert (await client.get("/api/v1/courses/no-such-course")).status_code == 404
    after = (await client.get("/metrics")).text

    def count(text: str) -> float:
        return _samples(text, "aula_http_requests_total", **route, status="404").get("", 0.0)

    assert count(after) - count(before.text) == 3
    buckets = _samples(after, "aula_http_request_duration_seconds_bucket", **route)
    total = _samples(after, "aula_http_request_duration_seconds_count", **route)[""]
    by_bound = [buckets[le] for le in sorted((le for le in buckets if le != "+Inf"), key=float)]
    assert by_bound == sorted(by_bound)  # cumulative, as Prometheus reads them
    assert buckets["+Inf"] == total >= 3
    assert _samples(after, "aula_http_request_duration_seconds_sum", **route)[""] > 0


async def test_metrics_with_a_token_answer_only_a_scraper_that_sends_it(settings: Settings) -> None:
    guarded = settings.model_copy(update={"metrics_token": SecretStr("scrape-me-with-this-token-1234")})
    async with AsyncTestClient(app=create_app(guarded)) as scraper:
        anonymous = await scraper.get("/metrics")
        wrong = await scraper.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        right = await scraper.get(
            "/metrics", headers={"Authorization": "Bearer scrape-me-with-this-token-1234"}
        )

    assert (anonymous.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert "token" in anonymous.json()["detail"]
    assert "aula_http_requests_total" in right.text


def test_production_serves_metrics_only_with_a_token() -> None:
    def paths(settings: Settings) -> set[str]:
        return {route.path for route in create_app(settings).routes}

    assert "/metrics" not in paths(production())
    assert "/metrics" in paths(production(metrics_token="scrape-me-with-this-token-1234"))
    assert "/health/ready" in paths(production())


async def test_openapi_schema_and_ui(client: Client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert "/api/v1/auth/login" in schema["paths"]
    assert schema["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    assert schema["paths"]["/api/v1/auth/login"]["post"]["description"]
    ui = await client.get("/schema/swagger")
    assert ui.status_code == 200
    assert "/schema/assets/swagger-ui-bundle.js" in ui.text, "the UI is served from the package, not a CDN"
    bundle = await client.get("/schema/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert "SwaggerUIBundle" in bundle.text


async def test_openapi_declares_that_request_bodies_refuse_unknown_fields(client: Client) -> None:
    """What the schema says is what the server does: a field it does not declare is refused."""
    schemas = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]
    extra = await client.post(
        "/api/v1/auth/register",
        json={"email": "a@example.org", "password": "a long passphrase", "full_name": "A", "role": "admin"},
    )

    assert schemas["Registration"]["additionalProperties"] is False
    assert schemas["CourseCreate"]["additionalProperties"] is False
    assert "additionalProperties" not in schemas["CourseCard"]  # responses may grow fields
    assert extra.status_code == 422
    assert extra.json()["errors"][0]["field"] == "role"


async def test_cors_allows_configured_origins_only(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["https://cibernarium.example"]}))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        allowed = await client.options(
            "/api/v1/auth/login",
            headers={"origin": "https://cibernarium.example", "access-control-request-method": "POST"},
        )
        other = await client.options(
            "/api/v1/auth/login",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        actual = await client.post(
            "/api/v1/auth/login",
            json={"email": "a@example.org", "password": "whatever-long"},
            headers={"origin": "https://cibernarium.example"},
        )
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "https://cibernarium.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"]
    assert "access-control-allow-origin" not in other.headers
    assert actual.headers["access-control-allow-origin"] == "https://cibernarium.example"
    assert "x-request-id" in actual.headers["access-control-expose-headers"]


def production(**values: object) -> Settings:
    base: dict[str, object] = {
        "env": "production",
        "secret_key": "k" * 48,
        "database_url": "postgresql://aula:Zq8-very-strong-pass@db/aula",
        "broker_url": "redis://redis:6379/0",
        "s3_endpoint": "http://objects:9000",
        "s3_access_key": "aula",
        "s3_secret_key": "s3-very-strong-secret-value",
    }
    base.update(values)
    return Settings(**base)  # type: ignore[arg-type]


def test_production_settings_with_real_secrets_are_accepted() -> None:
    assert production().is_production


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ({"secret_key": ""}, "LMS_SECRET_KEY"),
        ({"secret_key": "changeme"}, "LMS_SECRET_KEY"),
        ({"secret_key": "short-but-random"}, "LMS_SECRET_KEY"),
        ({"database_url": "postgresql://postgres:postgres@db/aula"}, "database password"),
        ({"database_url": "postgresql://aula@db/aula"}, "database password"),
        ({"broker_url": None}, "LMS_BROKER_URL"),
        ({"s3_secret_key": "changeme"}, "LMS_S3_SECRET_KEY"),
    ],
)
def test_production_refuses_unsafe_defaults(override: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        production(**override)


def test_development_keeps_a_generated_secret_in_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = settings.signing_key()
    assert len(first) >= 48
    assert Settings(data_dir=tmp_path).signing_key() == first


def test_cors_origins_read_from_a_comma_separated_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMS_CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]
