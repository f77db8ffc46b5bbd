"""Turn whatever a gateway calls "the QR" into a `Qr`: its text content when we can read it.

Gateways hand out a data URI (wapp.im `qrCode`), an HTML `<img src=…>` (wapp.im `qr_code`),
bare base64 PNG (Green-API) or the QR text itself (whinmovilla). We decode images with
zxing-cpp so that the bot can re-render a large, crisp QR that survives Telegram's photo
compression; an image we cannot read is passed through unchanged.
"""

from __future__ import annotations

import base64
import binascii
import io
import re

import zxingcpp
from PIL import Image, UnidentifiedImageError

from bot.gateways.base import Qr

_DATA_URI = re.compile(r"data:image/[\w.+-]+;base64,([A-Za-z0-9+/=\s]+)")
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF")


def qr_from_text(value: str) -> Qr | None:
    """Parse a data URI, an HTML fragment with one, base64 image bytes, or QR content."""
    value = value.strip()
    if not value:
        return None
    if match := _DATA_URI.search(value):
        try:
            return qr_from_image(base64.b64decode(match.group(1)))
        except (binascii.Error, ValueError):
            return None  # a truncated image: wait for the next poll
    if value.startswith(("<", "data:")):
        return None  # HTML without an image, or a broken data URI: nothing to show yet
    image = _b64_image(value)
    if image is not None:
        return qr_from_image(image)
    return Qr(content=value)


def qr_from_image(image: bytes) -> Qr:
    content = read_qr(image)
    return Qr(content=content) if content is not None else Qr(image=image)


def read_qr(image: bytes) -> str | None:
    try:
        picture = Image.open(io.BytesIO(image))
        picture.load()
    except (UnidentifiedImageError, OSError):
        return None
    results = [
        r for r in zxingcpp.read_barcodes(picture) if r.format == zxingcpp.BarcodeFormat.QRCode
    ]
    return results[0].text if results and results[0].text else None


def _b64_image(value: str) -> bytes | None:
    if len(value) < 64 or not re.fullmatch(r"[A-Za-z0-9+/=\s]+", value):
        return None
    try:
        raw = base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        return None
    return raw if raw.startswith(_IMAGE_MAGIC) else None
