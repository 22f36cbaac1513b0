"""What processing learns from a file: image thumbnails and size, video duration, PDF pages, caption cues.

Pure functions over bytes (plus ffprobe as a subprocess); the task in ``media.tasks`` stores the results.
A ``BadMedia`` means the file itself is unusable, so the asset is marked failed instead of retried.
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import warnings
from dataclasses import dataclass
from typing import Any

import anyio
from PIL import Image, ImageOps, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PdfReadError

MAX_IMAGE_PIXELS = 100_000_000  # a 20 MB upload can still decompress to gigabytes; refuse beyond this
THUMBNAIL_QUALITY = 80
FFPROBE_TIMEOUT = 60.0  # seconds; ffprobe reads only headers, with range requests
MAX_CUE_TEXT = 500  # characters kept per cue in the asset's details


class BadMedia(Exception):
    """The file cannot be processed; the message is shown to staff as the failure reason."""


@dataclass(frozen=True, slots=True)
class Thumbnail:
    width: int
    height: int
    data: bytes


def image_facts(data: bytes, widths: list[int]) -> tuple[dict[str, Any], list[Thumbnail]]:
    """Dimensions of an image and WebP thumbnails no wider than each of ``widths`` (never upscaled)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
            with Image.open(io.BytesIO(data)) as opened:
                opened.load()
                image = ImageOps.exif_transpose(opened)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise BadMedia(f"the image cannot be decoded ({exc})") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadMedia(f"the image is too large to process ({exc})") from exc
    width, height = image.size
    mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
    source = image.convert(mode)
    thumbnails: list[Thumbnail] = []
    for target in sorted(set(widths)):
        w = min(target, width)
        h = max(1, round(height * w / width))
        out = io.BytesIO()
        source.resize((w, h), Image.Resampling.LANCZOS).save(out, "WEBP", quality=THUMBNAIL_QUALITY)
        thumbnails.append(Thumbnail(w, h, out.getvalue()))
    return {"width": width, "height": height}, thumbnails


def pdf_facts(data: bytes) -> dict[str, Any]:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            reader.decrypt("")
        pages = len(reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError, NotImplementedError) as exc:
        raise BadMedia(f"the PDF cannot be read ({exc})") from exc
    return {"pages": pages}


_TIMESTAMP = r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_TIMING = re.compile(rf"^{_TIMESTAMP}[ \t]+-->[ \t]+{_TIMESTAMP}(?:[ \t].*)?$")


def _seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def parse_webvtt(text: str) -> dict[str, Any]:
    """Cues of a WebVTT file (W3C WebVTT: header, then blocks separated by blank lines)."""
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not re.match(r"^WEBVTT(?:[ \t].*)?$", lines[0]):
        raise BadMedia("the captions do not start with WEBVTT")
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines[1:]:
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    cues: list[dict[str, Any]] = []
    for block in blocks:
        if block[0].startswith(("NOTE", "STYLE", "REGION")) and "-->" not in block[0]:
            continue
        timing_at = 0 if "-->" in block[0] else 1
        if timing_at >= len(block):
            raise BadMedia(f"a cue has no timing line: {block[0][:60]!r}")
        match = _TIMING.match(block[timing_at].strip())
        if match is None:
            raise BadMedia(f"invalid cue timing: {block[timing_at][:60]!r}")
        g = match.groups()
        start, end = _seconds(*g[0:4]), _seconds(*g[4:8])
        if end < start:
            raise BadMedia(f"a cue ends before it starts: {block[timing_at][:60]!r}")
        cue_text = "\n".join(block[timing_at + 1 :])
        cues.append({"start": start, "end": end, "text": cue_text[:MAX_CUE_TEXT]})
    if not cues:
        raise BadMedia("the captions contain no cues")
    return {"cue_count": len(cues), "duration_seconds": max(c["end"] for c in cues), "cues": cues}


async def probe_video(ffprobe: str, source: str) -> dict[str, Any]:
    """Duration and resolution through ffprobe; all unknown (None) when ffprobe is not installed."""
    unknown: dict[str, Any] = {"duration_seconds": None, "width": None, "height": None, "probe": None}
    binary = shutil.which(ffprobe)
    if binary is None:
        return unknown
    command = [
        binary,
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_entries",
        "format=duration:stream=codec_type,codec_name,width,height,duration",
        source,
    ]
    with anyio.fail_after(FFPROBE_TIMEOUT):
        result = await anyio.run_process(command, check=False)
    if result.returncode != 0:
        reason = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise BadMedia(f"ffprobe cannot read the video: {reason[0][:300]}")
    info = json.loads(result.stdout or b"{}")
    video = next((s for s in info.get("streams", []) if s.get("codec_type") == "video"), None)
    if video is None:
        raise BadMedia("the file has no video stream")
    duration = info.get("format", {}).get("duration") or video.get("duration")
    seconds = float(duration) if duration not in (None, "N/A") else None
    return {
        "duration_seconds": round(seconds, 3) if seconds is not None and math.isfinite(seconds) else None,
        "width": video.get("width"),
        "height": video.get("height"),
        "codec": video.get("codec_name"),
        "probe": "ffprobe",
    }
