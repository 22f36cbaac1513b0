"""Real files of each accepted type, made on the fly."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

from PIL import Image
from pypdf import PdfWriter

VTT = (
    "WEBVTT - Benvinguda\n\n"
    "NOTE made for the tests\n\n"
    "1\n00:00:00.000 --> 00:00:02.500\nBenvinguts al curs.\n\n"
    "00:02.500 --> 00:05.000 align:start\nComencem!\n"
)


def png(width: int = 1200, height: int = 800) -> bytes:
    image = Image.new("RGB", (width, height), (200, 40, 90))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def jpeg(width: int = 640, height: int = 480) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def pdf(pages: int = 3) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def mp4_header(size: int = 4096) -> bytes:
    """The start of an ISO media file (ftyp box) padded to ``size``: enough to be sniffed as MP4."""
    box = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    return box + b"\x00" * (size - len(box))


def ffmpeg_video(folder: Path) -> bytes | None:
    """A real two-second 320x240 MP4 when ffmpeg is installed."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    target = folder / "clip.mp4"
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=2:size=320x240:rate=10",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            "-y",
            str(target),
        ],
        check=True,
        timeout=60,
    )
    return target.read_bytes()
