"""The QR photo: rendered from its content, large and with a quiet zone, so Telegram's JPEG
compression of photos keeps it readable; a gateway image we could not read is passed through.

zxing-cpp (which also reads the gateways' QR images) draws the symbol, one pixel a module, and
Pillow scales it up and writes the PNG: about 2 ms a QR, where the pure-Python `qrcode` took 12 ms
of the event loop, which thousands of people connecting at once add up to seconds of lag."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image

from bot.gateways.base import Qr

_TARGET_PX = 900  # Telegram keeps photos up to 1280 px; 900 leaves every module ≥ 10 px wide.


def qr_png(qr: Qr) -> bytes:
    if qr.content is None:
        return qr.image or b""
    barcode = zxingcpp.create_barcode(qr.content, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    symbol = barcode.to_image(scale=1, add_quiet_zones=True)  # the 4-module quiet zone included
    small = Image.fromarray(symbol)  # 8-bit grey, through the array interface
    side = small.width
    box = max(4, _TARGET_PX // side)
    large = small.resize((side * box, side * box), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    large.convert("1", dither=Image.Dither.NONE).save(buffer, format="PNG")
    return buffer.getvalue()
