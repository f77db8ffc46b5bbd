"""Reading a bulk send's recipient list: milliseconds of `parse_list` for lists of 1,000 and
20,000 recipients (best of `--runs`), the shapes people send, and the hostile ones that must stay
cheap (over the cap, every line unreadable, too many lines).

    .venv/bin/python -m bench.bulk_list [--runs 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from bot.services.bulk_list import MAX_LINES, RecipientList, parse_list

Line = Callable[[int], str]

SHAPES: dict[str, Line] = {
    "8987… ; name ; order": lambda i: f"8987{i:07d};Ivan {i};order {i}",
    "+7 987 …-…, name": lambda i: (
        f"+7 987 {i // 10000:03d}-{i % 10000 // 100:02d}-{i % 100:02d},Ivan"
    ),
    "phone only": lambda i: f"8987{i:07d}",
}


def timed(data: bytes, runs: int, cap: int) -> tuple[float, RecipientList]:
    best, result = float("inf"), RecipientList()
    for _ in range(runs):
        start = time.perf_counter()
        result = parse_list(data, region="RU", max_recipients=cap)
        best = min(best, time.perf_counter() - start)
    return best * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    print(f"{'list':44} {'ms':>7}  result")
    for label, line in SHAPES.items():
        for count in (1000, 20_000):
            data = "\n".join(line(i) for i in range(count)).encode()
            ms, result = timed(data, runs, cap=count)
            got = f"{len(result.recipients)} recipients" if result.ok else result.refusal
            print(f"{label + f', {count:,}':44} {ms:7.0f}  {got}")
    hostile = {
        "20,000 good lines, cap 1,000": "\n".join(f"8987{i:07d}" for i in range(20_000)),
        "20,000 unreadable lines (9 digits)": "\n".join(f"8987{i:05d}" for i in range(20_000)),
        f"{MAX_LINES + 1:,} lines": "\n".join("8" for _ in range(MAX_LINES + 1)),
    }
    for label, text in hostile.items():
        ms, result = timed(text.encode(), runs, cap=1000)
        print(f"{label:44} {ms:7.0f}  {result.refusal}")


if __name__ == "__main__":
    main()
