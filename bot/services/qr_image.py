"""The QR photo: rendered from its content, large and with a quiet zone, so Telegram's JPEG
compression of photos keeps it readable; a gateway image we could not read is passed through.

`qrcode` builds the symbol's module matrix (error correction M, a 4-module quiet zone) and Pillow
draws it, one pixel a module scaled up with `NEAREST`, into a 1-bit PNG. Not `qrcode`'s own
`make()` and `make_image()`: they score all eight mask patterns and draw every module in pure
Python, 16-23 ms a QR on the event loop, which thousands of people connecting at once add up to
seconds of lag. With one fixed mask it takes 4-7 ms, 1.4 times what the zxing-cpp encoder it
replaced took (`bench/qr_render.py`). Any mask makes a valid QR (readers take it from the format
bits); the scoring only avoids patterns that can confuse a reader, which WhatsApp's random base64
content seldom makes (the tests read a hundred such photos after a JPEG round like Telegram's).
A cache by content would not help: each QR a gateway issues is drawn once, when it is shown.
"""

from __future__ import annotations

import io

import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

from bot.gateways.base import Qr

_TARGET_PX = 900  # Telegram keeps photos up to 1280 px; 900 leaves every module ≥ 10 px wide.
_QUIET_ZONE = 4  # modules of white around the symbol, as the standard asks
_MASK = 0  # any of the 8 works; fixed, so that qrcode does not score all 8
_INK = bytes.maketrans(b"\x00\x01", b"\xff\x00")  # dark module (True) → black, else white


def qr_png(qr: Qr) -> bytes:
    if qr.content is None:
        return qr.image or b""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=_QUIET_ZONE, mask_pattern=_MASK)
    code.add_data(qr.content)
    code.make(fit=True)
    matrix = code.get_matrix()  # rows of bools, the quiet zone included
    side = len(matrix)
    pixels = b"".join(map(bytes, matrix)).translate(_INK)
    small = Image.frombytes("L", (side, side), pixels).convert("1", dither=Image.Dither.NONE)
    box = max(4, _TARGET_PX // side)
    large = small.resize((side * box, side * box), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    large.save(buffer, format="PNG")
    return buffer.getvalue()
