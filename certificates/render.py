"""The certificate PDF: A4 landscape, embedded Unicode fonts with a fallback, a vector QR code.

Names print in the script they are written in: Latin, Greek, Cyrillic, Armenian, Georgian and Lao
(DejaVu), Chinese and Japanese (the fallback), Arabic and Hebrew (joined and put in drawing order), and in
faces of their own, shaped by HarfBuzz: the Indic scripts (Devanagari, Bengali, Gurmukhi, Gujarati, Oriya,
Tamil, Telugu, Kannada, Malayalam, Sinhala), Thai, Myanmar, Khmer, Ethiopic (Noto Sans) and Korean
(NanumGothic).

Rendering is a pure function of what is printed (``Printed``) and the branding, and the output is
byte-for-byte deterministic (ReportLab's invariant mode), so a retried issuance uploads the same bytes.
"""

from __future__ import annotations

import io
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path

import arabic_reshaper
import segno
from bidi import get_display
from reportlab import rl_config
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import (
    FF_NONSYMBOLIC,
    FF_SYMBOLIC,
    SUBSETN,
    TTFont,
    makeToUnicodeCMap,
    shapeStr,
)
from reportlab.pdfgen.canvas import Canvas

from certificates.i18n import format_label, hours_phrase, long_date, text

FONT_DIR = Path(__file__).parent / "fonts"
REGULAR = "AulaSans"
BOLD = "AulaSans-Bold"
FALLBACK = "AulaFallback"  # CJK and other scripts DejaVu lacks; it has no bold, so both weights use it
_FONT_FILES = {
    REGULAR: "DejaVuSans.ttf",
    BOLD: "DejaVuSans-Bold.ttf",
    FALLBACK: "DroidSansFallbackFull.ttf",
}
# Scripts neither font above has: each in a face of its own, in the weight of the line. Their conjuncts,
# reordered vowel signs and stacked marks are glyphs no single character maps to, so runs in these faces
# are shaped (HarfBuzz, through ReportLab) before they are measured and drawn. Code point ranges in
# ascending order; a script may have several.
SCRIPT_RANGES = (
    (0x0900, 0x097F, "Devanagari"),
    (0x0980, 0x09FF, "Bengali"),
    (0x0A00, 0x0A7F, "Gurmukhi"),
    (0x0A80, 0x0AFF, "Gujarati"),
    (0x0B00, 0x0B7F, "Oriya"),
    (0x0B80, 0x0BFF, "Tamil"),
    (0x0C00, 0x0C7F, "Telugu"),
    (0x0C80, 0x0CFF, "Kannada"),
    (0x0D00, 0x0D7F, "Malayalam"),
    (0x0D80, 0x0DFF, "Sinhala"),
    (0x0E00, 0x0E7F, "Thai"),
    (0x1000, 0x109F, "Myanmar"),
    (0x1100, 0x11FF, "Hangul"),  # jamo
    (0x1200, 0x139F, "Ethiopic"),  # with its supplement
    (0x1780, 0x17FF, "Khmer"),
    (0x3130, 0x318F, "Hangul"),  # compatibility jamo
    (0xAC00, 0xD7AF, "Hangul"),  # syllables
)
# (regular, bold) files of each script's face: Noto Sans, and NanumGothic for Korean (Noto's is a CJK
# collection many times its size).
_SCRIPT_FILES = {
    script: (f"NotoSans{script}-Regular.ttf", f"NotoSans{script}-Bold.ttf") for *_, script in SCRIPT_RANGES
}
_SCRIPT_FILES["Hangul"] = ("NanumGothic.ttf", "NanumGothicBold.ttf")
_SCRIPT_FONTS = {
    (weight, script): f"{weight}-{script}" for weight in (REGULAR, BOLD) for script in _SCRIPT_FILES
}
_FONT_FILES.update(
    {name: _SCRIPT_FILES[script][weight == BOLD] for (weight, script), name in _SCRIPT_FONTS.items()}
)
SHAPED_FONTS = frozenset(_SCRIPT_FONTS.values())
_JOINERS = "\u200c\u200d"  # zero-width (non-)joiners belong to the word they shape

PAGE_WIDTH, PAGE_HEIGHT = landscape(A4)
MARGIN = 36.0
TEXT_WIDTH = PAGE_WIDTH - 2 * 96  # the central column names and titles must fit in
INK = HexColor("#1d2b36")
ACCENT = HexColor("#1f5f74")
MUTED = HexColor("#5b6770")
QR_SIZE = 92.0
QR_MASK = 2

_fonts_lock = threading.Lock()
_registered = threading.Event()


@dataclass(frozen=True, slots=True)
class Printed:
    """Everything a certificate shows; stored as the snapshot so later edits never change it."""

    code: str
    version: int
    language: str
    learner_name: str
    course_title: str
    course_format: str
    hours: Decimal | None  # None when the course states no duration: the line leaves it out
    completed_on: date
    issued_on: date
    issuer_name: str
    signatory_name: str
    signatory_title: str
    verify_url: str


@dataclass(frozen=True, slots=True)
class Branding:
    logo_path: Path | None = None


# Characters every certificate's main fonts carry beyond ASCII (which ReportLab always embeds): those of
# Catalan, Spanish and other Western European names and of the fixed wording, in a fixed order. A name
# within them leaves each embedded font subset identical to the last certificate's, so the subset is
# built and compressed once per process instead of for every PDF (most of a PDF's rendering time).
REPERTOIRE = (
    "".join(chr(code) for code in range(0xA1, 0x100) if code != 0xAD)
    + "ŀĿ\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u20ac\u2022"  # quotes, dashes, ellipsis, euro, bullet
    + "ŁłŻżŹźŚśĆćŃńĘęĄąŐőŰűČčŠšŽžŘřĚěŮůŤťĎďŇňĽľĞğİıŞşŒœ"
)


class _Preformatted(pdfdoc.PDFObject):  # type: ignore[misc]  # ReportLab has no type hints
    """A PDF object formatted once, for an earlier document (ours are not encrypted, so its bytes do not
    depend on the document)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def format(self, document: object) -> bytes:
        return self.data


@dataclass(frozen=True, slots=True)
class _SubsetParts:
    base_font: str
    widths: bytes
    to_unicode: bytes  # the ToUnicode CMap stream, compressed and formatted
    font_file: bytes  # the embedded TrueType subset stream, compressed and formatted


SUBSET_CACHE_SIZE = 128  # distinct subsets kept per process (a few tens of kilobytes each)
_subsets: OrderedDict[tuple[str, int, tuple[int, ...]], _SubsetParts] = OrderedDict()
_subsets_lock = threading.Lock()


def _subset_parts(
    font: TTFont, number: int, subset: tuple[int, ...], doc: pdfdoc.PDFDocument
) -> _SubsetParts:
    key = (font.fontName, number, subset)
    with _subsets_lock:
        parts = _subsets.get(key)
        if parts is not None:
            _subsets.move_to_end(key)
            return parts
    face = font.face
    base_font = b"".join((SUBSETN(number), b"+", face.name, face.subfontNameX)).decode("pdfdoc")
    codes = list(subset)
    cmap = pdfdoc.PDFStream(content=makeToUnicodeCMap(base_font, codes), filters=[pdfdoc.PDFZCompress])
    program = face.makeSubset(codes)
    font_file = pdfdoc.PDFStream(content=program, filters=[pdfdoc.PDFZCompress])
    font_file.dictionary["Length1"] = len(program)
    parts = _SubsetParts(
        base_font=base_font,
        widths=pdfdoc.PDFArray([face.getCharWidth(code) for code in codes]).format(doc),
        to_unicode=cmap.format(doc),
        font_file=font_file.format(doc),
    )
    with _subsets_lock:
        _subsets[key] = parts
        while len(_subsets) > SUBSET_CACHE_SIZE:
            _subsets.popitem(last=False)
    return parts


class EmbeddedFont(TTFont):  # type: ignore[misc]  # ReportLab has no type hints
    """A TrueType font whose embedded subsets are built, compressed and formatted once per distinct subset.

    The same objects ReportLab's ``TTFont`` adds (font, ToUnicode CMap, descriptor, font program), with
    the expensive ones reused from an earlier document that embedded the very same subset.
    """

    def addObjects(self, doc: pdfdoc.PDFDocument) -> None:  # noqa: N802 (ReportLab's method name)
        state = self._assignState(doc)
        state.frozen = 1
        fonts = doc.idToObject["BasicFonts"].dict
        face = self.face
        for number, subset in enumerate(state.subsets):
            internal = self.getSubsetInternalName(number, doc)[1:]
            parts = _subset_parts(self, number, tuple(subset), doc)
            font = pdfdoc.PDFTrueTypeFont()
            font.Name = internal
            font.BaseFont = parts.base_font
            font.FirstChar = 0
            font.LastChar = len(subset) - 1
            font.Widths = _Preformatted(parts.widths)
            font.ToUnicode = doc.Reference(
                _Preformatted(parts.to_unicode), f"toUnicodeCMap:{parts.base_font}"
            )
            program = doc.Reference(
                _Preformatted(parts.font_file), f"fontFile:{face.filename}({parts.base_font})"
            )
            descriptor = pdfdoc.PDFDictionary(
                {
                    "Type": "/FontDescriptor",
                    "Ascent": face.ascent,
                    "CapHeight": face.capHeight,
                    "Descent": face.descent,
                    "Flags": (face.flags & ~FF_NONSYMBOLIC) | FF_SYMBOLIC,
                    "FontBBox": pdfdoc.PDFArray(face.bbox),
                    "FontName": pdfdoc.PDFName(parts.base_font),
                    "ItalicAngle": face.italicAngle,
                    "StemV": face.stemV,
                    "FontFile2": program,
                    "MissingWidth": face.defaultWidth,
                }
            )
            font.FontDescriptor = doc.Reference(descriptor, f"fontDescriptor:{parts.base_font}")
            doc.Reference(font, internal)
            fonts[internal] = font
        del self.state[doc]


@cache
def _coverage(font_name: str) -> frozenset[int]:
    font = pdfmetrics.getFont(font_name)
    return frozenset(font.face.charToGlyph)


def register_fonts() -> None:
    """Register the embedded fonts once per process (ReportLab keeps a global registry)."""
    if _registered.is_set():
        return
    with _fonts_lock:
        # Binary streams: ASCII85 makes PDFs a quarter larger and costs time on every page.
        rl_config.useA85 = 0
        registered = set(pdfmetrics.getRegisteredFontNames())
        for name, filename in _FONT_FILES.items():
            if name not in registered:
                font = EmbeddedFont(name, str(FONT_DIR / filename))
                if name in SHAPED_FONTS:
                    _map_every_glyph(font)
                pdfmetrics.registerFont(font)
        _registered.set()


def _map_every_glyph(font: TTFont) -> None:
    """Give each glyph no character maps to a private-use code point, in glyph order, before any text.

    Shaping draws such glyphs through code points of their own. ReportLab would hand them out in the order
    they are first met, which depends on what the process printed before: mapped up front, a certificate's
    bytes depend only on what it prints (issuance relies on that; see ``certificates.issuing``).
    """
    face = font.face
    code = 0xE000
    for glyph in range(face.numGlyphs):
        if glyph in face.glyphToChar:
            continue
        while code in face.charToGlyph:
            code += 1
        face.charToGlyph[code] = glyph
        face.glyphToChar[glyph] = [code]
        face.charWidths[code] = face.hmetrics[glyph][0] * 1000 / face.unitsPerEm  # these faces: 1000
        code += 1


def prepare() -> None:
    """Load the fonts and render a sample once: a worker's first certificate then costs what the rest do."""
    register_fonts()
    code = "0" * 27
    render_pdf(
        Printed(
            code=code,
            version=2,
            language="ca",
            learner_name="Łukasz Żółć 王小明",  # both fonts and the fallback
            course_title="Competències digitals",
            course_format="mooc",
            hours=Decimal(1),
            completed_on=date(2026, 1, 1),
            issued_on=date(2026, 1, 1),
            issuer_name="Aula",
            signatory_name="Aula",
            signatory_title="Aula",
            verify_url=f"https://aula.invalid/verify/{code}",
        ),
        Branding(),
    )


# Hebrew, Arabic (with Syriac, Thaana, N'Ko...) and their presentation forms.
_RIGHT_TO_LEFT = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


@lru_cache(maxsize=256)
def visual(value: str) -> str:
    """``value`` as drawn, left to right: a PDF shows glyphs in the order it is given, unjoined. Arabic
    letters take their contextual (joined) forms and right-to-left runs are reversed, so "محمد" prints
    joined and reading from the right; text without such scripts is returned as it is."""
    if not _RIGHT_TO_LEFT.search(value):
        return value
    return str(get_display(arabic_reshaper.reshape(value)))


_SCRIPTS_FROM, _SCRIPTS_TO = SCRIPT_RANGES[0][0], SCRIPT_RANGES[-1][1]


def _script(code: int) -> str | None:
    """The script of a character that prints in a face of its own (``SCRIPT_RANGES``), else None."""
    if not _SCRIPTS_FROM <= code <= _SCRIPTS_TO:  # most text: one comparison
        return None
    for low, high, script in SCRIPT_RANGES:
        if low <= code <= high:
            return script
    return None


def runs(value: str, font_name: str) -> list[tuple[str, str]]:
    """Split ``value`` into (font, text) runs: a script's own face for its letters (``SCRIPT_RANGES``),
    else the main font where it has the glyph, else the fallback."""
    primary = _coverage(font_name)
    result: list[tuple[str, str]] = []
    for char in value:
        code = ord(char)
        script = _script(code)
        if script is not None:
            font = _SCRIPT_FONTS.get((font_name, script), _SCRIPT_FONTS[REGULAR, script])
        elif char in _JOINERS and result and result[-1][0] in SHAPED_FONTS:
            font = result[-1][0]
        else:
            # Spaces and marks the main font has keep a run going; anything it lacks goes to the fallback.
            font = font_name if code in primary or char.isspace() else FALLBACK
        if result and result[-1][0] == font:
            result[-1] = (font, result[-1][1] + char)
        else:
            result.append((font, char))
    return result


@lru_cache(maxsize=1024)
def _shaped(part: str, font: str) -> tuple[str, float]:
    """A run of a shaped face as ReportLab draws it (glyph positions attached), and its width at size 1.

    Shaping positions are in thousandths of the size, so one shaping serves every size."""
    drawn = shapeStr(part, font, 1000)
    data = getattr(drawn, "__shapeData__", None)
    if data is None:  # nothing to shape: drawn as it is
        return part, pdfmetrics.stringWidth(part, font, 1)
    return drawn, sum(glyph.x_advance for glyph in data) / 1000


def _run_width(part: str, font: str, size: float) -> float:
    if font in SHAPED_FONTS:
        return _shaped(part, font)[1] * size
    return float(pdfmetrics.stringWidth(part, font, size))


def text_width(value: str, font_name: str, size: float) -> float:
    return sum(_run_width(part, font, size) for font, part in runs(visual(value), font_name))


def draw_text(canvas: Canvas, value: str, x: float, y: float, font_name: str, size: float) -> None:
    """Draw left-aligned text, switching to the fallback font for characters the main font lacks."""
    for font, part in runs(visual(value), font_name):
        canvas.setFont(font, size)
        if font in SHAPED_FONTS:
            # Shaped glyphs (conjuncts, reordered signs) map to no text of their own: the span tells PDF
            # readers the words they show, so copying or searching the name gives what was written.
            canvas.addLiteral(f"/Span <</ActualText <FEFF{part.encode('utf-16-be').hex().upper()}>>> BDC")
            canvas.drawString(x, y, _shaped(part, font)[0])
            canvas.addLiteral("EMC")
        else:
            canvas.drawString(x, y, part)
        x += _run_width(part, font, size)


def draw_centred(canvas: Canvas, value: str, y: float, font_name: str, size: float) -> None:
    draw_text(canvas, value, (PAGE_WIDTH - text_width(value, font_name, size)) / 2, y, font_name, size)


def draw_right(canvas: Canvas, value: str, x: float, y: float, font_name: str, size: float) -> None:
    draw_text(canvas, value, x - text_width(value, font_name, size), y, font_name, size)


def _unspaced(char: str) -> bool:
    """A character of a script written without spaces between words (Chinese, Japanese): a line may break
    after any of them. Korean, in the same part of Unicode, puts spaces between words."""
    code = ord(char)
    return code >= 0x2E80 and not (
        0x3130 <= code <= 0x318F or 0xA960 <= code <= 0xA97F or 0xAC00 <= code <= 0xD7FF
    )


def _tokens(value: str) -> Iterator[str]:
    """Words, and single characters of scripts written without spaces (so CJK text can wrap)."""
    for word in value.split():
        if any(_unspaced(c) for c in word):
            yield from word
        else:
            yield word


def wrap(value: str, font_name: str, size: float, width: float) -> list[str]:
    lines: list[str] = []
    current = ""
    for token in _tokens(value):
        cjk = len(token) == 1 and _unspaced(token)
        candidate = f"{current}{'' if cjk or not current else ' '}{token}" if current else token
        if current and text_width(candidate, font_name, size) > width:
            lines.append(current)
            current = token
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines or [""]


def fit(
    value: str, font_name: str, *, largest: float, smallest: float, width: float, max_lines: int
) -> tuple[float, list[str]]:
    """The largest size (down to ``smallest``) at which ``value`` fits ``width`` in the fewest lines."""
    whole = text_width(value, font_name, largest)
    if whole <= width:
        return largest, [value]
    one_line = largest * width / whole
    if one_line >= smallest:
        return one_line, [value]
    for lines_allowed in range(2, max_lines + 1):
        size = largest
        while size >= smallest:
            lines = wrap(value, font_name, size, width)
            if len(lines) <= lines_allowed and all(
                text_width(line, font_name, size) <= width for line in lines
            ):
                return size, lines
            size -= 1
    # Extraordinarily long: keep shrinking the wrapped text until it fits, however small.
    size = smallest
    lines = wrap(value, font_name, size, width)
    while size > 4 and (
        len(lines) > max_lines or any(text_width(line, font_name, size) > width for line in lines)
    ):
        size -= 0.5
        lines = wrap(value, font_name, size, width)
    return size, lines


def draw_block(
    canvas: Canvas,
    value: str,
    centre_y: float,
    font_name: str,
    *,
    largest: float,
    smallest: float,
    max_lines: int,
    colour: Color = INK,
) -> None:
    """Centred text shrunk (and if need be wrapped) to fit the central column, around ``centre_y``."""
    size, lines = fit(
        value, font_name, largest=largest, smallest=smallest, width=TEXT_WIDTH, max_lines=max_lines
    )
    leading = size * 1.18
    top = centre_y + (len(lines) - 1) * leading / 2
    canvas.setFillColor(colour)
    for index, line in enumerate(lines):
        draw_centred(canvas, line, top - index * leading - size * 0.35, font_name, size)


def draw_qr(canvas: Canvas, data: str, x: float, y: float, size: float) -> None:
    """The QR code as filled rectangles, one per horizontal run of dark modules: fast and sharp."""
    # A fixed mask skips segno's evaluation of all eight (most of its time); any mask scans fine.
    matrix = segno.make(data, error="m", micro=False, mask=QR_MASK).matrix
    count = len(matrix)
    rects: list[str] = []
    for row_index, row in enumerate(matrix):
        top = count - 1 - row_index
        col = 0
        while col < count:
            if row[col]:
                start = col
                while col < count and row[col]:
                    col += 1
                rects.append(f"{start} {top} {col - start} 1 re")
            else:
                col += 1
    canvas.saveState()
    canvas.translate(x, y)
    canvas.scale(size / count, size / count)
    # Integer module coordinates written as literal path operators: ReportLab's path objects format
    # every number as a float, which took longer than the rest of the page.
    canvas.addLiteral("\n".join(rects) + "\nf")
    canvas.restoreState()


@cache
def _logo(path: Path) -> ImageReader:
    return ImageReader(str(path))


def _draw_logo(canvas: Canvas, branding: Branding, issuer: str, x: float, y: float, size: float) -> None:
    if branding.logo_path is not None and branding.logo_path.is_file():
        canvas.drawImage(
            _logo(branding.logo_path), x, y, size, size, preserveAspectRatio=True, anchor="sw", mask="auto"
        )
        return
    # No logo configured: a plain emblem with the organisation's initial.
    canvas.setFillColor(ACCENT)
    canvas.circle(x + size / 2, y + size / 2, size / 2, stroke=0, fill=1)
    canvas.setFillColor(HexColor("#ffffff"))
    initial = (issuer.strip() or "A")[0].upper()
    isize = size * 0.55
    draw_text(canvas, initial, x + (size - text_width(initial, BOLD, isize)) / 2, y + size * 0.3, BOLD, isize)


def render_pdf(printed: Printed, branding: Branding) -> bytes:
    """The certificate as PDF bytes."""
    register_fonts()
    lang = printed.language
    buffer = io.BytesIO()
    canvas = Canvas(
        buffer,
        pagesize=(PAGE_WIDTH, PAGE_HEIGHT),
        invariant=1,
        pageCompression=1,
        lang=lang,
        initialFontName=REGULAR,
    )
    for name in (REGULAR, BOLD):
        # The common characters take the same codes in every certificate, in the same order: see REPERTOIRE.
        pdfmetrics.getFont(name).splitString(REPERTOIRE, canvas._doc)
    # Invariant mode keeps the bytes reproducible; the dates it would freeze to 2000 say the issue date.
    stamp = f"D:{printed.issued_on:%Y%m%d}000000Z"
    canvas.setDateFormatter(lambda *_: stamp)
    title = text(lang, "title")
    canvas.setTitle(f"{title}: {printed.learner_name} · {printed.course_title}")
    canvas.setAuthor(printed.issuer_name)
    canvas.setSubject(printed.course_title)
    canvas.setCreator(printed.issuer_name)
    canvas.setKeywords([printed.code, printed.verify_url])

    # Frame: a heavy outer rule and a thin inner one.
    canvas.setStrokeColor(ACCENT)
    canvas.setLineWidth(3)
    canvas.rect(MARGIN, MARGIN, PAGE_WIDTH - 2 * MARGIN, PAGE_HEIGHT - 2 * MARGIN)
    canvas.setLineWidth(0.6)
    inset = MARGIN + 7
    canvas.rect(inset, inset, PAGE_WIDTH - 2 * inset, PAGE_HEIGHT - 2 * inset)

    # Header: logo and issuer.
    logo_size = 52.0
    top = PAGE_HEIGHT - MARGIN - 24 - logo_size
    _draw_logo(canvas, branding, printed.issuer_name, MARGIN + 28, top, logo_size)
    canvas.setFillColor(INK)
    draw_text(canvas, printed.issuer_name, MARGIN + 28 + logo_size + 14, top + logo_size / 2 - 5, BOLD, 15)

    # Body.
    canvas.setFillColor(ACCENT)
    draw_centred(canvas, title.upper(), 414, BOLD, 28)
    canvas.setFillColor(MUTED)
    draw_centred(canvas, text(lang, "certifies"), 376, REGULAR, 13)
    draw_block(canvas, printed.learner_name, 334, BOLD, largest=34, smallest=18, max_lines=2)
    canvas.setFillColor(MUTED)
    draw_centred(canvas, text(lang, "completed"), 284, REGULAR, 13)
    draw_block(canvas, printed.course_title, 252, BOLD, largest=21, smallest=12, max_lines=2, colour=ACCENT)
    details = " · ".join(
        part
        for part in (
            format_label(printed.course_format, lang),
            hours_phrase(printed.hours, lang) if printed.hours is not None else "",
            text(lang, "completed_on", date=long_date(printed.completed_on, lang)),
        )
        if part
    )
    canvas.setFillColor(INK)
    draw_centred(canvas, details, 212, REGULAR, 12)

    # Signature block.
    left = MARGIN + 60
    canvas.setStrokeColor(INK)
    canvas.setLineWidth(0.7)
    canvas.line(left, 128, left + 220, 128)
    canvas.setFillColor(INK)
    y = 113.0
    for value, font, size in (
        (printed.signatory_name, BOLD, 11.0),
        (printed.signatory_title, REGULAR, 9.5),
        (printed.issuer_name, REGULAR, 9.5),
    ):
        if value:
            draw_text(
                canvas, value, left, y, font, min(size, size * 220 / max(text_width(value, font, size), 1))
            )
            y -= 14
    issued = text(lang, "issued_on", date=long_date(printed.issued_on, lang))
    if printed.version > 1:
        issued += f" ({text(lang, 'version', version=printed.version)})"
    canvas.setFillColor(MUTED)
    draw_text(canvas, issued, left, 70, REGULAR, 8.5)

    # Verification: QR code and the code itself.
    qr_x = PAGE_WIDTH - MARGIN - 28 - QR_SIZE
    qr_y = MARGIN + 24
    canvas.setFillColor(INK)
    draw_qr(canvas, printed.verify_url, qr_x, qr_y, QR_SIZE)
    right = qr_x - 10
    canvas.setFillColor(MUTED)
    draw_right(canvas, text(lang, "verify_at"), right, qr_y + 60, REGULAR, 8.5)
    canvas.setFillColor(INK)
    url_size = min(8.0, 8.0 * 300 / max(text_width(printed.verify_url, REGULAR, 8), 1))
    draw_right(canvas, printed.verify_url, right, qr_y + 48, REGULAR, url_size)
    canvas.setFillColor(MUTED)
    draw_right(canvas, f"{text(lang, 'code')}: {printed.code}", right, qr_y + 30, REGULAR, 8.5)
    canvas.linkURL(printed.verify_url, (qr_x, qr_y, qr_x + QR_SIZE, qr_y + QR_SIZE), relative=0)

    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
