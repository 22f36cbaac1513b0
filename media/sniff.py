"""Recognise a file's real type from its first bytes (no libmagic): only the types Aula accepts."""

from __future__ import annotations

SNIFF_BYTES = 64  # enough for every signature below, and for a UTF-8 BOM before "WEBVTT"

_EBML = b"\x1a\x45\xdf\xa3"


def _is_mp4(head: bytes) -> bool:
    # ISO base media: a box size (4 bytes) then "ftyp"; MP4 brands vary (isom, mp42, avc1, M4V ...).
    return len(head) >= 12 and head[4:8] == b"ftyp"


def _is_webm(head: bytes) -> bool:
    # Matroska's EBML header; WebM says so in its DocType, which sits in the first few dozen bytes.
    return head.startswith(_EBML) and b"webm" in head[:SNIFF_BYTES]


def _is_webvtt(head: bytes) -> bool:
    text = head.removeprefix(b"\xef\xbb\xbf")
    return text.startswith(b"WEBVTT") and (len(text) == 6 or text[6:7] in (b" ", b"\t", b"\n", b"\r"))


def sniff(head: bytes) -> str | None:
    """The content type the bytes really are, among the accepted ones; None when unrecognised."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if _is_mp4(head):
        return "video/mp4"
    if _is_webm(head):
        return "video/webm"
    if _is_webvtt(head):
        return "text/vtt"
    return None
