"""Extraction cost per notice body: forest.crawler.facts.extract() over the demo board's bodies and the corpus.

    .venv/bin/python -m bench.facts.run [--notices 5000] [--rounds 7]

Reports CPU time per body (process time, so other load on a shared machine counts less than in wall time) for
each round, and the median and spread over rounds. Target: <= 0.5 ms per body.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from forest.crawler.facts import extract
from forest.demo_site.board import Board

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "crawler" / "fixtures" / "facts"


def _bodies(notices: int) -> list[tuple[str, object]]:
    board = Board(notices=notices, seed=1)
    out: list[tuple[str, object]] = [(n.body, n.post_date) for n in board.notices]
    for path in sorted(CORPUS.glob("*.txt")):
        out.append((path.read_text(encoding="utf-8").split("\n---\n", 1)[1], None))
    return out


def main() -> None:
    """Run the rounds and print per-round and summary figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--notices", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    bodies = _bodies(args.notices)
    chars = sum(len(b) for b, _ in bodies) / len(bodies)
    for body, posted in bodies[:200]:  # warm-up: regex compilation and caches
        extract(body, posted_on=posted)  # type: ignore[arg-type]
    per_body_ms: list[float] = []
    wall_ms: list[float] = []
    for _ in range(args.rounds):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for body, posted in bodies:
            extract(body, posted_on=posted)  # type: ignore[arg-type]
        per_body_ms.append((time.process_time() - cpu0) / len(bodies) * 1000)
        wall_ms.append((time.perf_counter() - wall0) / len(bodies) * 1000)
    print(f"bodies: {len(bodies)} (mean {chars:.0f} characters), rounds: {args.rounds}")
    print("cpu ms/body per round: " + ", ".join(f"{v:.3f}" for v in per_body_ms))
    print(
        f"cpu ms/body: median {statistics.median(per_body_ms):.3f}, min {min(per_body_ms):.3f}, "
        f"max {max(per_body_ms):.3f}; wall median {statistics.median(wall_ms):.3f}"
    )


if __name__ == "__main__":
    main()
