"""The bar lines of each corpus tune, read from its ABC text (no music21 parse: milliseconds).

The corpus cache (:mod:`training.corpus`) keeps notes only, shifted so the first note starts at
step 0; this module recovers where the tune's bar lines fall in those steps. The EsAC ABC files
are plain: a header (``M:`` meter, ``L:`` unit length), then notes (``[_=^]*[A-Ga-g][,']*`` and
rests ``z``, each followed by an optional whole number of units), ties ``-`` and bar lines ``|``;
a line break (a phrase end) is a bar line when the bar before it is full, else the bar goes on
into the next line (a phrase that starts with a pickup). Bar lines are the running sums of the bars' lengths, so a
pickup (a short first bar), a short last bar and any irregular bar are where the ABC puts them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from training.corpus import STYLE_SOURCES, source_files, tune_jobs

_FIELD = re.compile(r"^([A-Za-z]):\s*(.*)$")
_EVENT = re.compile(r"(?P<note>[_=^]*[A-Ga-g][,']*|z)(?P<units>\d*)")


@dataclass(frozen=True)
class BarGrid:
    """A tune's meter and bar lines, in 16th steps from its first note (the cache's frame)."""

    steps_per_bar: int
    """Steps of a full bar of the ``M:`` meter (2/4: 8, 3/4: 12, 6/8: 12)."""
    bar_lines: tuple[int, ...]
    """Every bar line after the tune's start, in steps from its first note, ascending."""
    pickup: int
    """Steps of the first bar when it is shorter than a full bar (an anacrusis), else 0."""


def bar_grid(abc: str) -> BarGrid | None:
    """The :class:`BarGrid` of one tune's ABC text; None without a usable ``M:`` or ``L:``
    field, with more than one meter, or when a length is off the 16th grid."""
    meters, unit, body = [], None, []
    for line in abc.splitlines():
        field = _FIELD.match(line)
        if field is not None:
            name, value = field.group(1), field.group(2).strip()
            if name == "M":
                meters.append(value)
            elif name == "L":
                unit = value
            continue
        if line.strip():
            body.append(line)
    if len(meters) != 1 or unit is None or "[" in "".join(body):
        return None
    meter = {"C": "4/4", "C|": "2/2"}.get(meters[0], meters[0])
    try:
        bar = Fraction(meter) * 16
        unit_steps = Fraction(unit) * 16
    except (ValueError, ZeroDivisionError):
        return None
    if bar.denominator != 1 or bar <= 0:
        return None
    lengths: list[Fraction] = [Fraction(0)]  # steps of each bar, in order
    lead: Fraction | None = None  # steps of rest before the first note
    position = Fraction(0)
    for segment in re.split(r"(\||\n)", "\n".join(body)):
        if segment == "|" or (segment == "\n" and lengths[-1] >= bar):
            if lengths[-1] > 0:
                lengths.append(Fraction(0))
            continue
        for match in _EVENT.finditer(segment):
            steps = (int(match.group("units")) if match.group("units") else 1) * unit_steps
            if match.group("note") != "z" and lead is None:
                lead = position
            position += steps
            lengths[-1] += steps
    if lead is None or any(n.denominator != 1 for n in lengths) or lead.denominator != 1:
        return None
    lines, total = [], Fraction(0)
    for length in lengths[:-1]:
        total += length
        lines.append(int(total - lead))
    pickup = int(lengths[0]) if lengths[0] < bar else 0
    return BarGrid(int(bar), tuple(line for line in lines if line > 0), pickup)


def grid_of_bars(bars) -> BarGrid | None:
    """The :class:`BarGrid` of :func:`training.bars.load_bars`' ``(start, nominal, actual)`` bars
    (a score's measures); None without bars or with more than one meter."""
    if not bars or len({nominal for _, nominal, _ in bars}) != 1:
        return None
    nominal = bars[0][1]
    lines = [start for start, _, _ in bars[1:]] + [bars[-1][0] + bars[-1][2]]
    pickup = bars[0][2] if bars[0][2] < nominal else 0
    return BarGrid(nominal, tuple(line for line in lines if line > 0), pickup)


def model_grid(grid: BarGrid | None):
    """The run-time bar grid (:class:`livemelody.encoding.bars.BarGrid`, the shared model's bar
    inputs) of a tune's :class:`BarGrid` from its first note: its bar length, a bar line at
    the first bar line (after a pickup, which is so counted from its bar's end); None without
    a grid or with a bar too long for the model's inputs."""
    from livemelody.encoding.bars import meter_grid

    if grid is None:
        return None
    return meter_grid(grid.steps_per_bar, grid.bar_lines[0] if grid.bar_lines else 0)


def load_bar_grids(style: str) -> dict[str, BarGrid | None]:
    """Every tune of ``style`` by song id (the corpus cache's ids, :func:`training.corpus.tune_jobs`):
    ABC tunes from their text, a style read from score files (chorale's MusicXML) from music21's
    measures (:func:`training.bars.load_bars`, parsed once and cached)."""
    source = STYLE_SOURCES[style]
    if source.query is not None:
        from training.bars import load_bars

        return {song_id: grid_of_bars(bars) for song_id, bars in load_bars(style).items()}
    jobs = tune_jobs(source, source_files(source))
    return {song_id: bar_grid(text) for song_id, kind, text, _ in jobs if kind == "abc"}
