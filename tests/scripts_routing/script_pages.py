"""Generated pages of one paragraph in a given script, as a scan at 150 dpi with 11.5 pt type shows it.

Fonts come from Debian's fonts-noto-core (Arabic, Hebrew, Devanagari, Thai, Greek, Cyrillic, Latin) and
fonts-nanum (Korean, and the traditional Chinese characters used here); Pillow shapes Arabic and
Devanagari and lays out right-to-left lines through libraqm, which its wheels bundle.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

NOTO = Path("/usr/share/fonts/truetype/noto")
NANUM = Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf")

#: language -> (font file, right to left, text). Each says what the service does, in that language.
TEXTS = {
    "ar": (
        NOTO / "NotoNaskhArabic-Regular.ttf",
        True,
        "تقرأ هذه الخدمة المستندات الممسوحة ضوئيا وتحولها إلى نص يمكن البحث فيه بسهولة. كل صفحة تمر "
        "عبر أرخص طريق يقرؤها بشكل صحيح، والصفحات الصعبة فقط تذهب إلى نموذج أكبر.",
    ),
    "fa": (
        NOTO / "NotoNaskhArabic-Regular.ttf",
        True,
        "این سرویس اسناد اسکن شده را می‌خواند و آنها را به متن قابل جستجو تبدیل می‌کند. هر صفحه از "
        "ارزان‌ترین مسیری می‌گذرد که آن را درست می‌خواند و فقط صفحه‌های دشوار به مدل بزرگ‌تر "
        "فرستاده می‌شوند.",
    ),
    "ko": (
        NANUM,
        False,
        "이 서비스는 스캔한 문서를 읽고 검색할 수 있는 텍스트로 바꿉니다. 각 페이지는 올바르게 읽을 수 "
        "있는 가장 저렴한 경로를 거치며, 어려운 페이지만 더 큰 모델로 보냅니다.",
    ),
    "ru": (
        NOTO / "NotoSans-Regular.ttf",
        False,
        "Эта служба читает отсканированные документы и превращает их в текст, по которому можно "
        "искать. Каждая страница проходит самый дешёвый путь, который читает её правильно.",
    ),
    "hi": (
        NOTO / "NotoSansDevanagari-Regular.ttf",
        False,
        "यह सेवा स्कैन किए गए दस्तावेज़ों को पढ़ती है और उन्हें खोजने योग्य पाठ में बदलती है। हर पृष्ठ "
        "सबसे सस्ते रास्ते से जाता है जो उसे सही पढ़ता है।",
    ),
    "el": (
        NOTO / "NotoSans-Regular.ttf",
        False,
        "Αυτή η υπηρεσία διαβάζει σαρωμένα έγγραφα και τα μετατρέπει σε κείμενο με δυνατότητα "
        "αναζήτησης. Κάθε σελίδα περνά από τον φθηνότερο δρόμο που τη διαβάζει σωστά.",
    ),
    "en": (
        NOTO / "NotoSans-Regular.ttf",
        False,
        "This service reads scanned documents and turns them into searchable text. Every page takes "
        "the cheapest path that reads it right, and only hard pages go on to a larger model.",
    ),
    "zh": (NANUM, False, "本公司提供文書讀取服務，每日處理大量文件資料，價格合理品質優良。"),
}


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: float, rtl: bool) -> list[str]:
    draw = ImageDraw.Draw(Image.new("RGB", (8, 8)))
    spaced = " " in text
    units = text.split() if spaced else list(text)
    lines: list[str] = []
    current = ""
    for unit in units:
        candidate = f"{current} {unit}" if current and spaced else current + unit
        if current and draw.textlength(candidate, font=font, direction="rtl" if rtl else None) > width:
            lines.append(current)
            current = unit
        else:
            current = candidate
    return [*lines, current]


def script_page(lang: str, size: int = 24, width: int = 1000) -> tuple[Image.Image, str]:
    """The page and its text (lines joined by newlines, in logical order)."""
    font_path, rtl, text = TEXTS[lang]
    if not font_path.is_file():
        raise FileNotFoundError(f"{font_path}: install Debian's fonts-noto-core and fonts-nanum")
    font = ImageFont.truetype(str(font_path), size)
    lines = _wrap(text, font, width - 120, rtl)
    step = int(size * 1.6)
    image = Image.new("RGB", (width, 120 + step * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for k, line in enumerate(lines):
        y = 60 + k * step
        if rtl:
            x = width - 60 - draw.textlength(line, font=font, direction="rtl")
            draw.text((x, y), line, font=font, fill="black", direction="rtl")
        else:
            draw.text((60, y), line, font=font, fill="black")
    return image, "\n".join(lines)
