"""The QR photo: rendered from its content, large and with a quiet zone, so Telegram's JPEG
compression of photos keeps it readable; a gateway image we could not read is passed through."""

from __future__ import annotations

import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M

from bot.gateways.base import Qr

_TARGET_PX = 900  # Telegram keeps photos up to 1280 px; 900 leaves every module ≥ 10 px wide.
_BORDER = 4


def qr_png(qr: Qr) -> bytes:
    if qr.content is None:
        return qr.image or b""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=_BORDER)
    code.add_data(qr.content)
    code.make(fit=True)
    code.box_size = max(4, _TARGET_PX // (code.modules_count + 2 * _BORDER))
    buffer = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(buffer, format="PNG")
    return buffer.getvalue()
