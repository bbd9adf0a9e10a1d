"""Where each step of a corpus tune falls in its bar: the shared model's bar inputs.

For every token step of a song (16th steps from its first note, the frame of
:mod:`training.corpus`'s cache) two integers: ``bar_pos``, the step's position in its bar
(0 = the downbeat), and ``bar_len``, the bar's length in steps from the time signature (4/4: 16,
3/4 and 6/8: 12, 2/4: 8). ``bar_len`` 0 (with ``bar_pos`` 0) means "no meter known".

A tune's bars are a list of ``(start, nominal, actual)`` in steps: where the bar starts, the
length its time signature gives, and its written length. A first bar shorter than its time
signature is a pickup (anacrusis) and is counted from its end, so a quarter-note pickup in 4/4
sits at positions 12..15 and the first full bar starts at 0; any other bar is counted from its
start (modulo its nominal length when it is longer). Steps after the last bar go on with the last
bar's meter.

Sources of the bars:

- EsAC collections (deutsch, han, the extra German ones): the ABC text via
  :func:`training.meters.bar_grid` (no music21 parse; phrase lines that split a bar are joined);
- everything else (Irish and Scottish ABC with repeats and decorations, the chorales' MusicXML):
  music21's measures (``Measure.offset``, ``barDuration``, written duration) of the same part that
  :mod:`training.corpus` reads, relative to the same first note; cached in
  ``.cache/corpus/<style>-bars.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from livemelody.encoding.bars import MAX_BAR_LEN  # the size of the bar-position table; longer bars count as unknown
from training.corpus import CACHE_DIR, EXTRA_SOURCES, STYLE_SOURCES, _source, _source_digest, source_files, tune_jobs

ESAC_STYLES = ("deutsch", "han", *EXTRA_SOURCES)
"""Styles whose bars come from the EsAC ABC text (:func:`training.meters.bar_grid`)."""
_VERSION = 1

Bars = list[tuple[int, int, int]]


def bars_from_grid(grid) -> Bars | None:
    """``(start, nominal, actual)`` bars of a :class:`training.meters.BarGrid` (None: no grid)."""
    if grid is None or not grid.bar_lines:
        return None
    nominal = grid.steps_per_bar
    first = grid.pickup or nominal
    lines = [grid.bar_lines[0] - first, *grid.bar_lines]
    bars = [(a, nominal, b - a) for a, b in zip(lines, lines[1:])]
    return [*bars, (lines[-1], nominal, nominal)]


def measure_bars(stream) -> Bars | None:
    """``(start, nominal, actual)`` bars of a music21 part from its measures, in steps from its
    first sounding note (the cache's frame); None without measures or time signature."""
    from music21 import harmony
    from music21 import stream as m21stream

    notes = [e for e in stream.flatten().notes if not isinstance(e, harmony.Harmony)]
    measures = list(stream.getElementsByClass(m21stream.Measure))
    if not notes or not measures:
        return None
    origin = min(float(n.getOffsetInHierarchy(stream)) for n in notes) * 4
    bars = []
    for measure in measures:
        try:
            nominal = float(measure.barDuration.quarterLength) * 4
        except Exception:  # no time signature in context
            return None
        actual = float(measure.duration.quarterLength) * 4
        start = float(measure.getOffsetInHierarchy(stream)) * 4 - origin
        if actual <= 0:
            continue
        if not all(float(x).is_integer() for x in (nominal, actual, start)):
            return None
        bars.append((int(start), int(nominal), int(actual)))
    return bars or None


def _measure_job(job: tuple[str, str, str, int]) -> tuple[str, Bars | None]:
    import music21

    song_id, kind, payload, part = job
    try:
        if kind == "abc":
            score = music21.converter.parse(payload, format="abc")
        else:
            score = music21.converter.parse(payload)
        parts = list(score.parts)
        stream = parts[part] if parts else score
        return song_id, measure_bars(stream.stripTies())
    except Exception:  # music21 raises many types on odd files
        return song_id, None


def load_bars(style: str, workers: int | None = None, cache_dir: Path = CACHE_DIR, limit: int | None = None) -> dict:
    """Song id -> bars (``(start, nominal, actual)`` list, or None) of every tune of ``style``.

    EsAC styles are read from the ABC text each time (milliseconds); the others are parsed with
    music21 once (minutes) and cached beside the corpus cache. ``limit``: as in
    :func:`training.corpus.load_style`.
    """
    source = _source(style)
    files = source_files(source)
    jobs = tune_jobs(source, files, limit)
    if style in ESAC_STYLES:
        from training.meters import bar_grid

        return {song_id: bars_from_grid(bar_grid(text)) for song_id, kind, text, _ in jobs if kind == "abc"}
    path = cache_dir / (f"{style}-bars.json" if limit is None else f"{style}-first{limit}-bars.json")
    digest = f"{_VERSION}:{_source_digest(files)}"
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("source") == digest:
            return {k: (None if v is None else [tuple(b) for b in v]) for k, v in cached["bars"].items()}
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        bars = dict(pool.map(_measure_job, jobs, chunksize=4 if source.query else 16))
    cache_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"source": digest, "bars": bars}))
    found = sum(v is not None for v in bars.values())
    print(f"bars of {style}: {found} of {len(bars)} tunes in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return bars


def step_features(bars: Bars | None, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(bar_pos, bar_len) int64 [steps] for steps 0..steps-1 of a song with ``bars`` (see the
    module doc); zeros when ``bars`` is None or a bar is longer than :data:`MAX_BAR_LEN`."""
    pos = np.zeros(steps, np.int64)
    length = np.zeros(steps, np.int64)
    if not bars:
        return pos, length
    index = 0
    for t in range(steps):
        while index + 1 < len(bars) and bars[index + 1][0] <= t:
            index += 1
        start, nominal, actual = bars[index]
        if nominal <= 0 or nominal > MAX_BAR_LEN:
            continue
        offset = t - start
        if index == 0 and actual < nominal:  # a pickup: counted from its end
            offset += nominal - actual
        pos[t] = offset % nominal
        length[t] = nominal
    return pos, length


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Read (and cache) the bars of the styles' tunes.")
    parser.add_argument("styles", nargs="*", default=[*STYLE_SOURCES, *EXTRA_SOURCES])
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    for style in args.styles:
        bars = load_bars(style, args.workers)
        lengths: dict[int, int] = {}
        for b in bars.values():
            if b:
                lengths[b[-1][1]] = lengths.get(b[-1][1], 0) + 1
        pickups = sum(bool(b) and b[0][2] < b[0][1] for b in bars.values())
        print(f"{style}: {sum(b is not None for b in bars.values())} of {len(bars)} tunes with bars; "
              f"pickups {pickups}; bar lengths {dict(sorted(lengths.items()))}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
