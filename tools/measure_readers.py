"""Which MIDI reading library, by measurement: the case files and a 100,000-note file.

    python -m tools.measure_readers [--write]

For each file of tests/fixtures/cases/ it prints the notes each reader finds (or the
exception it raises): mido strict, mido with ``clip=True``, symusic, pretty_midi (each where
installed), and mido after livemelody's repair layer; then the seconds each takes to parse a
valid 100,000-note file. ``--write`` puts the tables in docs/DATA.md.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import mido

from livemelody.midi.repair import repair_smf
from tools.docs_tables import replace_block

CASES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "cases"


def _note_ons(midi: mido.MidiFile) -> int:
    return sum(1 for t in midi.tracks for m in t if m.type == "note_on" and m.velocity > 0)


def _mido(path: Path) -> int:
    return _note_ons(mido.MidiFile(path))


def _mido_clip(path: Path) -> int:
    return _note_ons(mido.MidiFile(path, clip=True))


def _symusic(path: Path) -> int:
    import symusic

    return sum(len(t.notes) for t in symusic.Score(str(path)).tracks)


def _pretty_midi(path: Path) -> int:
    import pretty_midi

    return sum(len(i.notes) for i in pretty_midi.PrettyMIDI(str(path)).instruments)


def _repair_mido(path: Path) -> int:
    return _note_ons(mido.MidiFile(file=io.BytesIO(repair_smf(path.read_bytes()).data)))


def _installed(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


READERS = {
    "mido": (_mido, "mido"),
    "mido clip": (_mido_clip, "mido"),
    "symusic": (_symusic, "symusic"),
    "pretty_midi": (_pretty_midi, "pretty_midi"),
    "repair + mido": (_repair_mido, "mido"),
}


def _cell(reader, path: Path) -> str:
    try:
        return str(reader(path))
    except Exception as exc:  # the point is to record what each library raises
        return type(exc).__name__


def case_table() -> str:
    readers = {name: fn for name, (fn, module) in READERS.items() if _installed(module)}
    lines = ["| file | " + " | ".join(readers) + " |", "|---|" + "---|" * len(readers)]
    totals = dict.fromkeys(readers, 0)
    for path in sorted(CASES.glob("*.mid")):
        cells = [_cell(fn, path) for fn in readers.values()]
        for name, cell in zip(readers, cells):
            totals[name] += cell.isdigit()
        lines.append(f"| {path.name} | " + " | ".join(cells) + " |")
    count = len(list(CASES.glob("*.mid")))
    lines.append("| **parsed without an exception** | " + " | ".join(f"{totals[n]} of {count}" for n in readers) + " |")
    lines.append("")
    lines.append(
        "A number is the note-ons found. Parsed is not read right: mido's `clip=True` turns the bytes 253 and 254 "
        "into two invented notes 127 (16), SMPTE ticks are taken for beats, and format 2's patterns are stacked "
        "at tick 0 by every reader but the repair layer, which also keeps only the 12 complete notes of the "
        "truncated file."
    )
    return "\n".join(lines)


def big_file(path: Path, notes: int = 100_000) -> Path:
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    for i in range(notes):
        track.append(mido.Message("note_on", note=60 + i % 12, velocity=80, time=0))
        track.append(mido.Message("note_off", note=60 + i % 12, velocity=0, time=120))
    midi.tracks.append(track)
    midi.save(path)
    return path


def timing_table(repeats: int = 3) -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = big_file(Path(folder) / "big.mid")
        data = path.read_bytes()
        runs = {
            "mido": lambda: mido.MidiFile(file=io.BytesIO(data)),
            "repair layer alone": lambda: repair_smf(data),
            "repair + mido": lambda: mido.MidiFile(file=io.BytesIO(repair_smf(data).data)),
        }
        if _installed("symusic"):
            import symusic

            runs["symusic"] = lambda: symusic.Score.from_midi(data)
        lines = [
            f"| parse a valid 100,000-note file ({len(data):,} bytes) | best of {repeats}, s |",
            "|---|---|",
        ]
        for name, run in runs.items():
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                run()
                best = min(best, time.perf_counter() - t0)
            lines.append(f"| {name} | {best:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the tables into docs/DATA.md")
    args = parser.parse_args(argv)
    text = case_table() + "\n\n" + timing_table()
    print(text)
    if args.write:
        replace_block("readers", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
