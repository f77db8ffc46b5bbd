"""QR photo rendering: milliseconds of CPU per QR for the three ways of drawing the bot's photo.

- `zxing-cpp`: the renderer the bot used before (zxing-cpp writes the matrix, Pillow scales it
  up), kept here as `zxing_png` for comparison only;
- `qrcode matrix`: the bot's `qr_png` (qrcode's module matrix with one fixed mask pattern,
  Pillow scales it up);
- `qrcode default`: `qrcode.make(content)` saved as PNG (it scores all eight mask patterns and
  draws every module in Python) at the same scale as the other two.

The contents are WhatsApp's QR texts: legacy WA Web `1@ref,key,client id` as the wapp.im
emulator issues it (base64 of 64, 32 and 16 random bytes: 160 characters) and the multi-device
`2@ref,noise key,identity key,secret` phones scan today (about 240). Every QR is new (a gateway
issues each once, so no cache helps). CPU time of this process (`time.process_time`) per QR in
the best of `--rounds` rounds of `--count` QRs, as `timeit` does (the other rounds measure the
other work on a shared machine too), the renderers taking turns QR by QR, after a warm-up. Each
renderer's photo is decoded with zxing-cpp first, and its side in pixels and PNG size are
shown, so that the figures compare photos that scan alike.

    .venv/bin/python -m bench.qr_render [--count 100] [--rounds 7]
"""

from __future__ import annotations

import argparse
import base64
import io
import random
import time
from collections.abc import Callable

import qrcode
import zxingcpp
from PIL import Image

from bench.harness import machine
from bot.gateways.base import Qr
from bot.gateways.qr import read_qr
from bot.services.qr_image import qr_png

_TARGET_PX = 900  # as in bot/services/qr_image.py


def zxing_png(content: str) -> bytes:
    """The bot's renderer before qrcode came back (bot/services/qr_image.py at 503f67a)."""
    barcode = zxingcpp.create_barcode(content, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    symbol = barcode.to_image(scale=1, add_quiet_zones=True)
    small = Image.fromarray(symbol)
    side = small.width
    box = max(4, _TARGET_PX // side)
    large = small.resize((side * box, side * box), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    large.convert("1", dither=Image.Dither.NONE).save(buffer, format="PNG")
    return buffer.getvalue()


def qrcode_matrix_png(content: str) -> bytes:
    return qr_png(Qr(content=content))


def qrcode_default_png(content: str) -> bytes:
    code = qrcode.QRCode(border=4)  # error correction M, as the other two
    code.add_data(content)
    code.make(fit=True)
    code.box_size = max(4, _TARGET_PX // (code.modules_count + 8))
    buffer = io.BytesIO()
    code.make_image().save(buffer, format="PNG")
    return buffer.getvalue()


RENDERERS: dict[str, Callable[[str], bytes]] = {
    "zxing-cpp (before)": zxing_png,
    "qrcode matrix (now)": qrcode_matrix_png,
    "qrcode default": qrcode_default_png,
}


def contents(kind: str, n: int, rng: random.Random) -> list[str]:
    def b64(size: int) -> str:
        return base64.b64encode(rng.randbytes(size)).decode()

    if kind == "legacy":
        return [f"1@{b64(64)},{b64(32)},{b64(16)}" for _ in range(n)]
    return [f"2@{b64(75)},{b64(32)},{b64(32)},{b64(32)}" for _ in range(n)]


def one_round(texts: list[str]) -> dict[str, float]:
    """Each renderer's CPU ms per QR over `texts`, taking turns QR by QR, so that other work on
    the machine slows them alike."""
    spent = dict.fromkeys(RENDERERS, 0.0)
    for text in texts:
        for name, render in RENDERERS.items():
            started = time.process_time()
            render(text)
            spent[name] += time.process_time() - started
    return {name: seconds / len(texts) * 1000 for name, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="QRs per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(20240601)
    kinds = {"legacy": "1@… 160 chars", "md": "2@… 237 chars"}
    figures: dict[tuple[str, str], float] = {}
    photos: dict[str, tuple[int, int]] = {}  # renderer → side in px, PNG bytes (legacy content)
    for kind in kinds:
        sample = contents(kind, 1, rng)[0]
        for name, render in RENDERERS.items():
            png = render(sample)  # the warm-up, and proof that it scans
            if read_qr(png) != sample:
                raise SystemExit(f"{name} drew a QR zxing-cpp does not read back")
            if kind == "legacy":
                with Image.open(io.BytesIO(png)) as image:
                    photos[name] = (image.width, len(png))
        rounds = [one_round(contents(kind, args.count, rng)) for _ in range(args.rounds)]
        for name in RENDERERS:
            figures[name, kind] = min(r[name] for r in rounds)
    print(
        f"QR photo rendering, CPU ms per QR (best of {args.rounds} rounds of {args.count});"
        f" machine: {machine()}"
    )
    header = " | ".join(f"{label:>13s}" for label in kinds.values())
    print(f"  {'renderer':20s} | {header} | {'× zxing-cpp':12s} | photo (1@…)")
    for name in RENDERERS:
        cells = " | ".join(f"{figures[name, kind]:10.2f} ms" for kind in kinds)
        ratios = " / ".join(
            f"{figures[name, kind] / figures['zxing-cpp (before)', kind]:.2f}" for kind in kinds
        )
        side, size = photos[name]
        print(f"  {name:20s} | {cells} | {ratios:12s} | {side} px, {size:,} B")


if __name__ == "__main__":
    main()
