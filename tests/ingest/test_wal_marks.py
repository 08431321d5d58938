"""WAL segment numbers are never reused (they are part of the inserts' deduplication tokens)."""

from __future__ import annotations

from pathlib import Path

from roost.ingest.wal import WAL


def test_segment_numbers_survive_an_empty_directory(tmp_path: Path) -> None:
    w = WAL(tmp_path)
    first = w.seq
    for _ in range(3):
        w.rotate()
    last = w.seq
    w.close()
    for p in tmp_path.glob("seg-*.wal"):
        p.unlink()  # every segment flushed and removed, as after a clean run
    w2 = WAL(tmp_path)
    try:
        assert w2.seq > last > first
    finally:
        w2.close()
