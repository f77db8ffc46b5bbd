"""The heaviest functions of a py-spy profile in collapsed-stack form (`py-spy record --format raw`):
the share of samples in which each function is on the stack (inclusive) and on top (self).

    .venv/bin/python -m bench.profile_top PROFILE.txt [--top 30] [--match bot/]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="", help="only frames whose text contains this")
    args = parser.parse_args()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in args.profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        for frame in set(frames):
            if args.match in frame:
                inclusive[frame] += samples
        if args.match in frames[-1]:
            own[frames[-1]] += samples
    print(f"{total} samples")
    print("inclusive:")
    for frame, n in inclusive.most_common(args.top):
        print(f"  {n / total * 100:5.1f} %  {frame[:150]}")
    print("self:")
    for frame, n in own.most_common(args.top):
        print(f"  {n / total * 100:5.1f} %  {frame[:150]}")


if __name__ == "__main__":
    main()
