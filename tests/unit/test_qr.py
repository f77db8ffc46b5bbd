"""QR in (`bot.gateways.qr`: whatever a gateway sends → content) and QR out (`qr_image.qr_png`)."""

from __future__ import annotations

import base64
import io
import random

import pytest
import qrcode
import zxingcpp
from PIL import Image

from bot.gateways.base import Qr
from bot.gateways.qr import qr_from_image, qr_from_text, read_qr
from bot.services.qr_image import qr_png

CONTENT = "1@abc,def,ghi"


def _b64(rng: random.Random, n: int) -> str:
    return base64.b64encode(rng.randbytes(n)).decode()


_RNG = random.Random(20240601)
# Legacy WA-Web QR (what the wapp.im emulator issues) and a longer multi-device one.
WA_LEGACY = f"1@{_b64(_RNG, 64)},{_b64(_RNG, 32)},{_b64(_RNG, 16)}"
WA_MD = f"2@{_b64(_RNG, 150)},{_b64(_RNG, 32)},{_b64(_RNG, 32)},{_b64(_RNG, 32)}"


def png_of(content: str, mode: str | None = None) -> bytes:
    image = qrcode.make(content).get_image()
    if mode is not None:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def noise_png(seed: int = 1, size: int = 64) -> bytes:
    rng = random.Random(seed)
    image = Image.frombytes("L", (size, size), rng.randbytes(size * size))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


# --- qr_from_text


def test_data_uri() -> None:
    uri = "data:image/png;base64," + base64.b64encode(png_of(CONTENT)).decode()
    assert qr_from_text(uri) == Qr(content=CONTENT)


def test_data_uri_jpeg_mime_and_wa_content() -> None:
    uri = "data:image/jpeg;base64," + base64.b64encode(png_of(WA_LEGACY, "RGB")).decode()
    assert qr_from_text(uri) == Qr(content=WA_LEGACY)


def test_data_uri_with_line_breaks_in_base64() -> None:
    encoded = base64.encodebytes(png_of(CONTENT)).decode()  # MIME style: newline every 76 chars
    assert "\n" in encoded.strip()
    assert qr_from_text("data:image/png;base64," + encoded) == Qr(content=CONTENT)


@pytest.mark.parametrize("quote", ['"', "'"])
def test_html_fragment(quote: str) -> None:
    encoded = base64.b64encode(png_of(CONTENT)).decode()
    html = (
        f"<html><body><img src={quote}data:image/png;base64,{encoded}{quote} alt=qr></body></html>"
    )
    assert qr_from_text(html) == Qr(content=CONTENT)


def test_bare_base64_png() -> None:
    assert qr_from_text(base64.b64encode(png_of(CONTENT)).decode()) == Qr(content=CONTENT)


def test_raw_content() -> None:
    assert qr_from_text(CONTENT) == Qr(content=CONTENT)
    assert qr_from_text(f"  {WA_LEGACY}\n") == Qr(content=WA_LEGACY)


@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_empty_is_none(value: str) -> None:
    assert qr_from_text(value) is None


@pytest.mark.parametrize("value", ["<div>loading…</div>", "<img alt='qr'>", "<html></html>"])
def test_html_without_image_is_none(value: str) -> None:
    assert qr_from_text(value) is None


def test_unreadable_data_uri_image_is_passed_through() -> None:
    noise = noise_png()
    assert qr_from_text("data:image/png;base64," + base64.b64encode(noise).decode()) == Qr(
        image=noise
    )


def test_bare_base64_unreadable_png_is_passed_through() -> None:
    noise = noise_png(seed=2)
    assert qr_from_text(base64.b64encode(noise).decode()) == Qr(image=noise)


def test_truncated_data_uri_does_not_raise() -> None:
    encoded = base64.b64encode(png_of(CONTENT)).decode()
    truncated = "data:image/png;base64," + encoded[: len(encoded) // 4 * 4 - 3]
    result = qr_from_text(truncated)
    assert result is None or result.content is None


# --- qr_from_image / read_qr


def test_qr_from_image_reads_content() -> None:
    assert qr_from_image(png_of(WA_LEGACY)) == Qr(content=WA_LEGACY)


def test_qr_from_image_noise_passes_through() -> None:
    noise = noise_png()
    assert read_qr(noise) is None
    assert qr_from_image(noise) == Qr(image=noise)


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n broken"])
def test_read_qr_non_images(data: bytes) -> None:
    assert read_qr(data) is None
    assert qr_from_image(data) == Qr(image=data)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "LA"])
def test_read_qr_image_modes(mode: str) -> None:
    assert read_qr(png_of(CONTENT, mode)) == CONTENT


# --- qr_png


def telegram_jpeg(png: bytes) -> bytes:
    """What Telegram may do to a photo at worst: downscale and recompress as a low-quality JPEG."""
    small = Image.open(io.BytesIO(png)).convert("RGB").resize((512, 512), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=40)
    return buffer.getvalue()


@pytest.mark.parametrize("content", [CONTENT, WA_LEGACY, WA_MD])
def test_qr_png_round_trip_large_and_survives_telegram(content: str) -> None:
    png = qr_png(Qr(content=content))
    assert png.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(png))
    assert image.width >= 800
    assert image.width == image.height
    assert decode(png) == [content]
    assert decode(telegram_jpeg(png)) == [content]


def test_qr_png_reads_back_for_many_whatsapp_contents() -> None:
    # The mask pattern is fixed, not chosen per content: a hundred contents of both shapes must
    # still scan, straight and after Telegram's compression.
    rng = random.Random(7)
    legacy = [f"1@{_b64(rng, 64)},{_b64(rng, 32)},{_b64(rng, 16)}" for _ in range(50)]
    md = [f"2@{_b64(rng, 75)},{_b64(rng, 32)},{_b64(rng, 32)},{_b64(rng, 32)}" for _ in range(50)]
    unread = []
    for content in legacy + md:
        png = qr_png(Qr(content=content))
        if decode(png) != [content] or decode(telegram_jpeg(png)) != [content]:
            unread.append(content)
    assert unread == []


@pytest.mark.parametrize(
    "content",
    [
        "Привет, мир: 1@abc,def",
        "café ✓",
        "日本語のテキスト",
        "emoji 😀 and digits 12345678901234567890123",
        "x" * 1000,  # long: a version 22 symbol, more modules than any WhatsApp QR
    ],
)
def test_qr_png_round_trip_non_ascii_and_long(content: str) -> None:
    assert decode(qr_png(Qr(content=content))) == [content]


def test_qr_png_scale_and_size_as_before() -> None:
    # The 160-character WhatsApp QR: 53 modules and 4 of quiet zone on each side, 14 px a module.
    image = Image.open(io.BytesIO(qr_png(Qr(content=WA_LEGACY))))
    assert image.size == (854, 854)
    assert image.mode == "1"


def test_qr_png_has_a_quiet_zone() -> None:
    image = Image.open(io.BytesIO(qr_png(Qr(content=CONTENT)))).convert("L")
    width = image.width
    # 4 modules of white on every side: the outer ~10 % is all white.
    margin = width // 12
    for box in [(0, 0, width, margin), (0, 0, margin, width), (width - margin, 0, width, width)]:
        assert image.crop(box).getextrema() == (255, 255)


def test_qr_png_passes_gateway_image_through() -> None:
    noise = noise_png()
    assert qr_png(Qr(image=noise)) == noise
    assert qr_png(Qr()) == b""


def test_a_broken_data_uri_is_not_taken_for_qr_text() -> None:
    assert qr_from_text("data:image/png;base64,!!!") is None
