"""Cover images for some demo courses, drawn with Pillow and run through media's real processing."""

from __future__ import annotations

import io
import unicodedata
import uuid

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from courses.models import Course
from lms.settings import Settings
from media import rules
from media import service as media_service
from media.models import Asset, AssetKind, AssetPurpose, AssetStatus
from media.storage import build_storage

# Stable ids, so a second `lms dev` finds the covers it made and does nothing.
NAMESPACE = uuid.UUID("6f1d3c2e-8a4b-4c6e-9d1f-2b7a5e0c9a11")
SIZE = (1280, 720)
# (slug, background, accent): a few courses of each format; the rest stay without a cover, as in real life.
COVERED = [
    ("sostenibilitat-digital", (0, 110, 100), (240, 240, 240)),
    ("benestar-digital-i-desconnexio", (60, 20, 90), (120, 220, 255)),
    ("programacio-amb-python", (20, 60, 110), (255, 215, 60)),
    ("intel-ligencia-artificial-generativa", (120, 40, 110), (255, 140, 90)),
    ("entrevistes-de-feina-per-videotrucada", (15, 40, 60), (255, 90, 90)),
    ("contrasenyes-segures-en-15-minuts", (30, 30, 40), (0, 200, 140)),
    ("ciberseguretat-per-a-tothom", (200, 80, 40), (255, 255, 255)),
    ("informatica-basica", (24, 72, 140), (255, 196, 0)),
]


def cover_id(slug: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"cover:{slug}")


def _ascii(text: str) -> str:
    """Pillow's built-in font has no accented letters: "Programació" is drawn "Programacio"."""
    plain = unicodedata.normalize("NFKD", text.replace("·", "."))
    return "".join(c for c in plain if c.isascii())


def draw(title: str, background: tuple[int, int, int], accent: tuple[int, int, int]) -> bytes:
    """A flat 16:9 cover: coloured bands, a circle and the course title."""
    image = Image.new("RGB", SIZE, background)
    pen = ImageDraw.Draw(image)
    width, height = SIZE
    pen.polygon([(width * 0.55, 0), (width, 0), (width, height), (width * 0.35, height)], fill=accent)
    pen.ellipse((width * 0.62, height * 0.18, width * 0.92, height * 0.71), fill=background)
    font = ImageFont.load_default(size=56)
    pen.text((64, height - 160), _ascii(title), fill=(255, 255, 255), font=font)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False)
    return out.getvalue()


async def load(session: AsyncSession, settings: Settings) -> None:
    """Give the listed demo courses a processed public cover (once; skipped when the covers exist)."""
    if await session.get(Asset, cover_id(COVERED[0][0])) is not None:
        return
    titles = dict((await session.execute(select(Course.slug, Course.title))).tuples().all())
    storage = build_storage(settings)
    bucket = rules.bucket_for(settings, AssetPurpose.PUBLIC)
    for slug, background, accent in COVERED:
        if slug not in titles:
            continue
        asset_id = cover_id(slug)
        data = draw(titles[slug].get("ca", slug), background, accent)
        key = rules.object_key(AssetPurpose.PUBLIC, asset_id, f"{slug}.png")
        await storage.put_bytes(bucket, key, data, "image/png")
        session.add(
            Asset(
                id=asset_id,
                kind=AssetKind.IMAGE,
                purpose=AssetPurpose.PUBLIC,
                status=AssetStatus.READY,  # as after a completed upload: stored and checked
                bucket=bucket,
                object_key=key,
                filename=f"{slug}.png",
                content_type="image/png",
                size_bytes=len(data),
                details={},
            )
        )
        await session.flush()
        # The worker's processing, run here so covers and thumbnails are there when `lms dev` starts.
        await media_service.process(session, storage, settings, asset_id)
        await session.execute(update(Course).where(Course.slug == slug).values(cover_asset_id=asset_id))
    await session.flush()
