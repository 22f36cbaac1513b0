"""The certificate PDF: any Unicode name renders (fallback font included), long names shrink, stable bytes."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import zlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest
import segno
from reportlab.pdfbase import pdfmetrics

from certificates import render
from certificates.render import (
    BOLD,
    FALLBACK,
    REGULAR,
    TEXT_WIDTH,
    Branding,
    Printed,
    fit,
    register_fonts,
    render_pdf,
    runs,
    text_width,
    visual,
)

LONG_NAME = "Maria Àngels Puig-Ferrer d'Olivella i Castellví de Sant Martí"


def printed(name: str = LONG_NAME, **overrides: object) -> Printed:
    values: dict[str, object] = {
        "code": "Xk3_aZ9-qwertyuiopasdfghjklzxc",
        "version": 1,
        "language": "ca",
        "learner_name": name,
        "course_title": "Introducció a la programació",
        "course_format": "mooc",
        "hours": Decimal(20),
        "completed_on": date(2026, 11, 20),
        "issued_on": date(2026, 11, 22),
        "issuer_name": "Ajuntament d'Exemple",
        "signatory_name": "Núria Sala i Bosch",
        "signatory_title": "Directora de formació",
        "verify_url": "https://aula.example.org/verify/Xk3_aZ9-qwertyuiopasdfghjklzxc",
    }
    values.update(overrides)
    return Printed(**values)  # type: ignore[arg-type]


def embedded_fonts(pdf: bytes) -> set[str]:
    return {
        name for name in ("DejaVuSans", "DejaVuSans-Bold", "DroidSansFallback") if f"+{name}".encode() in pdf
    }


def page_content(pdf: bytes) -> bytes:
    """Every Flate stream of the file, decompressed (the page's drawing operators are among them)."""
    out = []
    for match in re.finditer(rb"/Filter \[ /FlateDecode \][^>]*>>\r?\nstream\r?\n", pdf):
        out.append(zlib.decompressobj().decompress(pdf[match.end() :]))
    return b"\n".join(out)


@pytest.mark.parametrize("name", [LONG_NAME, "Ñúñez", "Łukasz Żółć", "O'Brien-Çelik Øvergård"])
def test_latin_names_render_with_the_embedded_main_font_only(name: str) -> None:
    pdf = render_pdf(printed(name), Branding())

    assert pdf.startswith(b"%PDF-")
    assert embedded_fonts(pdf) == {"DejaVuSans", "DejaVuSans-Bold"}


@pytest.mark.parametrize("name", ["王小明", "Łukasz 王小明", "山田 太郎", "やまだ たろう"])
def test_characters_the_main_font_lacks_render_with_the_fallback_font(name: str) -> None:
    register_fonts()
    assert any(font == FALLBACK for font, _ in runs(name, BOLD))

    pdf = render_pdf(printed(name), Branding())

    assert "DroidSansFallback" in embedded_fonts(pdf)


def test_runs_switch_fonts_only_where_needed() -> None:
    register_fonts()
    assert runs("Anna 王小明 Puig", BOLD) == [(BOLD, "Anna "), (FALLBACK, "王小明"), (BOLD, " Puig")]


def test_long_names_shrink_and_then_wrap_to_fit_the_page() -> None:
    register_fonts()
    short_size, short_lines = fit("Ñúñez", BOLD, largest=34, smallest=18, width=TEXT_WIDTH, max_lines=2)
    size, lines = fit(LONG_NAME, BOLD, largest=34, smallest=18, width=TEXT_WIDTH, max_lines=2)
    very_long = f"{LONG_NAME} de la Plana Alta i Baixa de l'Empordà i del Vallès Occidental"
    long_size, long_lines = fit(very_long, BOLD, largest=34, smallest=18, width=TEXT_WIDTH, max_lines=2)

    assert (short_size, short_lines) == (34, ["Ñúñez"])
    assert size < 34
    assert lines == [LONG_NAME]
    assert len(long_lines) == 2
    assert " ".join(long_lines) == very_long  # nothing lost
    for line in [*lines, *long_lines]:
        assert text_width(line, BOLD, long_size if line in long_lines else size) <= TEXT_WIDTH


def test_korean_wraps_between_words_and_chinese_between_characters() -> None:
    register_fonts()
    korean = "김민준 박서연 이지은 최우식 정해인 한가인 송중기 전지현"
    chinese = "王小明李小龙张伟刘洋陈静杨帆赵磊黄蕾"

    korean_lines = render.wrap(korean, BOLD, 28, 300)
    chinese_lines = render.wrap(chinese, BOLD, 28, 300)

    assert len(korean_lines) > 1
    assert " ".join(korean_lines) == korean  # every space kept, no word cut
    assert len(chinese_lines) > 1
    assert "".join(chinese_lines) == chinese


def test_rendering_is_reproducible_and_each_version_differs() -> None:
    first = render_pdf(printed(), Branding())

    assert render_pdf(printed(), Branding()) == first
    assert render_pdf(printed(version=2), Branding()) != first


def font_programs(pdf: bytes) -> list[bytes]:
    """The embedded TrueType programs (streams with a Length1), compressed as stored."""
    found = []
    for match in re.finditer(rb"<<[^>]*/Length1 \d+[^>]*>>\r?\nstream\r?\n", pdf):
        length = int(re.search(rb"/Length (\d+)", match.group()).group(1))  # type: ignore[union-attr]
        found.append(pdf[match.end() : match.end() + length])
    return found


def text_of(pdf: bytes) -> str:
    return pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def test_certificates_with_common_characters_embed_the_same_font_subsets_and_show_their_own_text() -> None:
    first = render_pdf(printed("Núria Sala i Bosch"), Branding())
    second = render_pdf(printed("Łukasz Żółć-Çelik"), Branding())
    third = render_pdf(printed("Ŵynn Ŷates"), Branding())  # outside the common repertoire

    assert len(font_programs(first)) == 2
    assert font_programs(first) == font_programs(second)  # built once, reused
    assert font_programs(third) != font_programs(first)
    assert "Núria Sala i Bosch" in text_of(first)
    assert "Łukasz Żółć-Çelik" in text_of(second)
    assert "Ŵynn Ŷates" in text_of(third)


@pytest.mark.parametrize("name", ["Александр Сергеевич Пушкин", "Ἀλέξανδρος Παπαδόπουλος"])
def test_names_beyond_the_common_repertoire_spill_into_further_subsets_and_still_read_back(name: str) -> None:
    pdf = render_pdf(printed(name), Branding())

    assert len(font_programs(pdf)) > 2  # a second subset of the bold font
    assert name in text_of(pdf)


def test_right_to_left_text_is_put_in_drawing_order_with_arabic_letters_joined() -> None:
    # "Muhammad Ali": each letter takes its initial, medial or final form, and the words read from the right.
    assert visual("محمد علي") == "\ufef2\ufee0\ufecb \ufeaa\ufee4\ufea4\ufee3"
    assert visual("שרה כהן") == "ןהכ הרש"  # Hebrew has no joining, only the order
    assert visual("Anna محمد Puig") == "Anna \ufeaa\ufee4\ufea4\ufee3 Puig"  # Latin runs keep theirs
    assert visual("Núria Sala i Bosch") == "Núria Sala i Bosch"


@pytest.mark.parametrize("name", ["محمد علي", "فاطمة الزهراء بنت عبد الرحمن"])
def test_arabic_names_render_with_joined_letters_from_the_main_font(name: str) -> None:
    pdf = render_pdf(printed(name), Branding())

    assert embedded_fonts(pdf) == {"DejaVuSans", "DejaVuSans-Bold"}  # it has the joined forms
    shown = text_of(pdf)
    assert not re.search("[\u0621-\u064a]", shown)  # no letter left in its unjoined form
    assert sorted(visual(name).replace(" ", "")) == sorted(c for c in shown if "\ufe70" <= c <= "\ufefc")


def test_hebrew_names_are_drawn_right_to_left() -> None:
    pdf = render_pdf(printed("שרה כהן"), Branding())

    # Text extraction puts right-to-left runs back in reading order: drawn the other way round, the
    # name would read back reversed.
    assert "שרה כהן" in text_of(pdf)
    assert "ןהכ הרש" not in text_of(pdf)


# Names in the scripts that print in a face of their own, with conjuncts, stacked or reordered signs.
SHAPED = {
    "Devanagari": "अनीता शर्मा क्षत्रिय",
    "Bengali": "রবীন্দ্রনাথ ঠাকুর",
    "Gurmukhi": "ਗੁਰਪ੍ਰੀਤ ਸਿੰਘ",
    "Gujarati": "ધર્મેશ પટેલ",
    "Oriya": "ପ୍ରିୟଙ୍କା ମିଶ୍ର",
    "Tamil": "முருகன் செல்வம்",
    "Telugu": "శ్రీనివాస రావు",
    "Kannada": "ಕೃಷ್ಣ ಪ್ರಸಾದ್",
    "Malayalam": "ശ്രീജിത്ത് മേനോൻ",
    "Sinhala": "ශ්‍රී ලක්ෂ්මි පෙරේරා",
    "Myanmar": "အောင်ဆန်းစုကြည်",
    "Khmer": "សុខ ចាន់ថា",
}
# Scripts whose names need no glyph beyond their letters: they read back from the PDF as written.
PLAIN = {"Thai": "สมชาย ใจดี", "Ethiopic": "አበበ ቢቂላ", "Hangul": "김민준 박서연"}
BOLD_FACES = {script: f"NotoSans{script}-Bold" for script in (*SHAPED, *PLAIN)} | {
    "Hangul": "NanumGothicBold"
}


def test_letters_of_scripts_with_a_face_of_their_own_run_in_it_in_the_same_weight() -> None:
    register_fonts()
    assert runs("Anna अनीता\u200d", BOLD) == [(BOLD, "Anna "), (f"{BOLD}-Devanagari", "अनीता\u200d")]
    assert runs("রবীন্দ্রনাথ", REGULAR) == [(f"{REGULAR}-Bengali", "রবীন্দ্রনাথ")]
    assert runs("Kim 김민준", REGULAR) == [(REGULAR, "Kim "), (f"{REGULAR}-Hangul", "김민준")]
    assert runs("สมชาย", BOLD) == [(f"{BOLD}-Thai", "สมชาย")]


@pytest.mark.parametrize(
    "name",
    [
        *SHAPED.values(),
        *PLAIN.values(),
        "王小明",
        "山田 太郎",
        "Γιώργος",
        "Արամ",
        "ნინო",
        "محمد",
        "Nguyễn Thị",
    ],
)
def test_every_letter_of_a_name_has_a_glyph_in_the_face_it_runs_in(name: str) -> None:
    """A letter its face lacks prints as an empty box, with no error anywhere."""
    register_fonts()
    for font, part in runs(name, BOLD):
        missing = {
            char for char in part if ord(char) not in render._coverage(font) and char not in " \u200c\u200d"
        }
        assert not missing, (font, missing)


@pytest.mark.parametrize("script", sorted(SHAPED))
def test_names_in_scripts_with_conjuncts_are_shaped_in_their_own_face(script: str) -> None:
    """Conjuncts and subjoined letters are glyphs of their own: drawn unshaped, the name would show the
    bare letters with visible viramas, and no glyph beyond the characters would be used."""
    pdf = render_pdf(printed(SHAPED[script]), Branding())

    assert f"+{BOLD_FACES[script]}".encode() in pdf
    assert "DroidSansFallback" not in embedded_fonts(pdf)
    shown = text_of(pdf)
    assert re.search("[\ue000-\uf8ff]", shown), "no shaped glyph was drawn"


def test_shaped_names_carry_their_text_for_copying_and_search() -> None:
    """Shaped glyphs map to private code points; each shaped run says the text it shows (ActualText)."""
    name = SHAPED["Devanagari"]
    pdf = render_pdf(printed(name), Branding())

    content = page_content(pdf)
    for word in name.split(" "):
        assert f"/ActualText <FEFF{word.encode('utf-16-be').hex().upper()}>".encode() in content
    latin = page_content(render_pdf(printed("Núria Sala i Bosch"), Branding()))
    assert b"/ActualText" not in latin  # unshaped text maps to its characters already


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext (poppler-utils)")
@pytest.mark.parametrize("script", ["Devanagari", "Tamil", "Myanmar", "Sinhala"])
def test_a_pdf_reader_copies_a_shaped_name_as_written(script: str, tmp_path: Path) -> None:
    path = tmp_path / "certificate.pdf"
    path.write_bytes(render_pdf(printed(SHAPED[script]), Branding()))

    copied = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout

    assert SHAPED[script] in copied.splitlines()


@pytest.mark.parametrize("script", sorted(PLAIN))
def test_thai_ethiopic_and_korean_names_print_in_their_own_face_and_read_back(script: str) -> None:
    """Neither DejaVu nor the fallback has these letters: without a face of their own they printed as
    empty boxes."""
    pdf = render_pdf(printed(PLAIN[script]), Branding())

    assert f"+{BOLD_FACES[script]}".encode() in pdf
    assert "DroidSansFallback" not in embedded_fonts(pdf)
    shown = text_of(pdf).split()
    assert all(word in shown for word in PLAIN[script].split()), shown


def test_a_shaped_name_is_narrower_than_its_letters_side_by_side() -> None:
    register_fonts()
    name = SHAPED["Devanagari"]
    letters = sum(pdfmetrics.stringWidth(c, f"{BOLD}-Devanagari", 20) for c in name if c != " ")

    assert text_width(name, BOLD, 20) < letters  # the conjuncts and matras overlap, as drawn


def test_shaped_names_give_the_bytes_a_fresh_process_would() -> None:
    """Glyphs reached only by shaping get their code points up front, so what this process printed
    before (other conjuncts first) does not change a certificate's bytes."""
    for other in ("द्वारका प्रसाद", "श्रीमती ज्योत्स्ना", *SHAPED.values(), *PLAIN.values()):
        render_pdf(printed(other), Branding())
    here = render_pdf(printed("हर्ष वर्धन त्रिपाठी"), Branding())

    script = (
        "import sys; from tests.certificates.test_render import printed;"
        "from certificates.render import Branding, render_pdf;"
        "sys.stdout.buffer.write(render_pdf(printed('हर्ष वर्धन त्रिपाठी'), Branding()))"
    )
    fresh = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True).stdout

    assert fresh == here


def test_reused_font_subsets_give_the_bytes_a_fresh_process_would() -> None:
    warm = render_pdf(printed("Pau Casals i Defilló"), Branding())
    render._subsets.clear()

    assert render_pdf(printed("Pau Casals i Defilló"), Branding()) == warm


def test_the_pdf_carries_metadata_and_a_vector_qr_code_of_the_verification_url() -> None:
    value = printed()
    pdf = render_pdf(value, Branding())

    assert b"/Author (Ajuntament d'Exemple)" in pdf
    assert b"/Creator (Ajuntament d'Exemple)" in pdf
    assert b"/Title" in pdf
    assert b"/Subject" in pdf
    assert b"D:20261122000000Z" in pdf  # dated the day it was issued
    # One filled rectangle per run of dark modules, in QR module units.
    matrix = segno.make(value.verify_url, error="m", micro=False, mask=2).matrix
    expected_runs = sum(
        1 for row in matrix for i, cell in enumerate(row) if cell and (i == 0 or not row[i - 1])
    )
    assert page_content(pdf).count(b" re\n") >= expected_runs


def test_a_configured_logo_is_drawn(tmp_path: Path) -> None:
    from PIL import Image

    logo = tmp_path / "logo.png"
    Image.new("RGB", (120, 120), (31, 95, 116)).save(logo)

    pdf = render_pdf(printed(), Branding(logo_path=logo))

    assert b"/Subtype /Image" in pdf
    assert b"/Subtype /Image" not in render_pdf(printed(), Branding())
