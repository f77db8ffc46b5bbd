"""Turn whatever a gateway calls "the QR" into a `Qr`: its text content when we can read it.

Gateways hand out a data URI (wapp.im `qrCode`), an HTML `<img src=…>` (wapp.im `qr_code`),
bare base64 PNG (Green-API) or the QR text itself (whinmovilla). We decode images with
zxing-cpp so that the bot can re-render a large, crisp QR that survives Telegram's photo
compression; an image we cannot read is passed through unchanged.

A connecting line's status is polled every few seconds and the gateway sends the same image
until the QR rotates, so what an image says is remembered (by its digest, for the last
`DECODED_KEPT` images): 10,000 people connecting at once would otherwise cost thousands of image
decodes a second.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from collections import OrderedDict

import zxingcpp
from PIL import Image, UnidentifiedImageError

from bot.gateways.base import Qr

_DATA_URI = re.compile(r"data:image/[\w.+-]+;base64,([A-Za-z0-9+/=\s]+)")
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF")
DECODED_KEPT = 16_384  # QR images whose content is remembered: ~0.3 KB each
_decoded: OrderedDict[bytes, str] = OrderedDict()  # image digest → content, oldest first


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
    key = hashlib.blake2b(image, digest_size=16).digest()
    content = _decoded.get(key)
    if content is not None:
        _decoded.move_to_end(key)
        return Qr(content=content)
    content = read_qr(image)
    if content is None:
        return Qr(image=image)
    _decoded[key] = content
    if len(_decoded) > DECODED_KEPT:
        _decoded.popitem(last=False)
    return Qr(content=content)


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
