"""Fuzz the file commands with mutated MIDI files, as figures.

    python -m tools.fuzz_files --count 10000 --seeds 1 2 3 [--style deutsch] [--write]

Each file is a valid seed file (a tune, a chordal type-1 file with tempo changes, a type-0
file, a four-part song, the case files of tests/fixtures/cases) damaged by one to three
mutations of the kinds the reader must survive (bytes changed, inserted, deleted; chunk
lengths, track counts, unknown chunks, truncation, data bytes above 127, SMPTE and tiny
time divisions, format 2, huge and over-long delta times, tempo 0, conductor events far
after the notes, a note 200,000 steps long, 100,000 notes). Every file goes through
``livemelody.cli.main`` (``continue``, and ``vary`` for every third) in worker processes,
each under a memory limit, each file under a time limit, and every output file is checked
strictly:

- a strict reader (mido, no clipping) parses it; every track ends with End of Track;
- no tempo of 0; no event after the end of the last note (plus the bar it ends in);
- every note-on has its note-off in the same track and channel;
- no invented note: every primer note's (pitch, velocity) is a note-on's pair of data bytes
  in the input file, and where a strict reader reads the input, one of its note-ons.

The figures are printed and, with ``--write``, put in docs/DATA.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import mido

from testkit.midi import note_track

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "tests" / "fixtures" / "cases"
TIMEOUT_S = 10.0
MEMORY_LIMIT = 4 << 30
"""Address-space limit of each worker process (bytes)."""
BATCH = 250


# ---------- seed files ----------


def _track(notes, channel=0, name=None, program=None, tpb=480):
    return note_track(notes, channel, name, program, tpb, velocity=lambda pitch: 70 + pitch % 20)


def _save(midi: mido.MidiFile) -> bytes:
    out = io.BytesIO()
    midi.save(file=out)
    return out.getvalue()


def _conductor(extra=()):
    return mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=600000),
            mido.MetaMessage("key_signature", key="Eb"),
            mido.MetaMessage("time_signature", numerator=3, denominator=4),
            *extra,
        ]
    )


def seed_files() -> dict[str, bytes]:
    """The valid files mutations start from, by name."""
    from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN as TWINKLE

    tune = [(n.pitch, n.start, n.duration) for n in TWINKLE]
    seeds = {}
    midi = mido.MidiFile(type=1, ticks_per_beat=96)
    midi.tracks += [_conductor(), _track(tune, tpb=96)]
    seeds["tune"] = _save(midi)
    chords = mido.MidiFile(type=1, ticks_per_beat=120)
    chords.tracks.append(_conductor([mido.MetaMessage("set_tempo", tempo=400000, time=360)]))
    notes = [(p, i * 4, 4) for i, root in enumerate([51, 55, 58, 56, 53, 51]) for p in (root, root + 4, root + 7)]
    chords.tracks.append(_track(notes, channel=1, tpb=120))
    chords.tracks[-1].append(mido.Message("control_change", control=64, value=127))
    chords.tracks[-1].append(mido.Message("pitchwheel", pitch=100))
    seeds["chords"] = _save(chords)
    single = mido.MidiFile(type=0, ticks_per_beat=480)
    single.tracks.append(mido.merge_tracks([_conductor(), _track(tune)]))
    seeds["type0"] = _save(single)
    song = mido.MidiFile(type=1, ticks_per_beat=480)
    pad = [(p, bar * 16, 16) for bar in range(4) for p in (76, 79, 84)]
    bass = [(36 + (i % 2) * 7, i * 8, 8) for i in range(8)]
    drums = [(36 + (i % 3), i * 4, 1) for i in range(16)]
    song.tracks += [
        _conductor(),
        _track(pad, 1, "Strings", 48),
        _track(bass, 2, "Bass", 33),
        _track(drums, 9, "Drums"),
        _track(tune, 0, "Melody", 73),
    ]
    song.tracks[1].append(mido.Message("sysex", data=[0x7E, 0x7F, 0x09, 0x01]))
    seeds["song"] = _save(song)
    for path in sorted(CASES.glob("*.mid")):
        seeds[f"case:{path.stem}"] = path.read_bytes()
    return seeds


# ---------- mutations ----------


def _chunks(data: bytes) -> list[tuple[int, int]]:
    """(start, declared length) of each chunk after the header, as far as they can be walked."""
    found, pos = [], 14
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        found.append((pos, length))
        pos += 8 + length
    return found


def _events_track(data: bytes) -> tuple[int, int] | None:
    chunks = [(s, n) for s, n in _chunks(data) if data[s : s + 4] == b"MTrk" and s + 8 + n <= len(data)]
    return None if not chunks else max(chunks, key=lambda c: c[1])


def _semantic(rng: random.Random) -> bytes:
    """A file that is valid but extreme: the kinds that broke the commands before."""
    kind = rng.choice(["tempo0", "far_meta", "huge_delta", "long_note", "tpb2", "many_notes", "far_note"])
    tune = [(60 + (i * 5) % 12, i * 4, 4) for i in range(8)]
    midi = mido.MidiFile(type=1, ticks_per_beat=2 if kind == "tpb2" else 480)
    conductor = _conductor()
    if kind == "tempo0":
        conductor.append(mido.MetaMessage("set_tempo", tempo=0, time=10))
    if kind == "far_meta":
        conductor.append(mido.MetaMessage("set_tempo", tempo=500000, time=0x0FFFFFFF))
    midi.tracks.append(conductor)
    if kind == "tpb2":
        notes = [(60 + i, i, 1) for i in range(9)]  # steps are half ticks
        track = mido.MidiTrack()
        for p, s, _ in notes:
            track.append(mido.Message("note_on", note=p, velocity=80, time=1 if s else 0))
            track.append(mido.Message("note_off", note=p, time=0))
        midi.tracks.append(track)
    elif kind == "long_note":
        track = mido.MidiTrack(
            [
                mido.Message("note_on", note=60, velocity=80),
                mido.Message("note_on", note=64, velocity=80, time=120),
                mido.Message("note_off", note=60, time=200_000 * 120),
                mido.Message("note_off", note=64, time=0),
            ]
        )
        midi.tracks.append(track)
    elif kind == "many_notes":
        track = mido.MidiTrack()
        for i in range(100_000):
            track.append(mido.Message("note_on", note=60 + i % 12, velocity=80, time=0))
            track.append(mido.Message("note_off", note=60 + i % 12, time=120))
        midi.tracks.append(track)
    else:
        track = _track(tune)
        if kind == "huge_delta":
            track.insert(len(track) // 2, mido.Message("control_change", control=7, value=100, time=0x0FFFFFFF))
        if kind == "far_note":
            track.append(mido.Message("note_on", note=72, velocity=81, time=0x0FFFFFFF))
            track.append(mido.Message("note_off", note=72, time=480))
        midi.tracks.append(track)
    return _save(midi)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """``data`` damaged by one to three mutations (see the module doc)."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(16)
        pos = rng.randrange(len(buf)) if buf else 0
        chunks = _chunks(bytes(buf))
        if kind == 0 and buf:  # a byte replaced
            buf[pos] = rng.randrange(256)
        elif kind == 1 and buf:  # a bit flipped
            buf[pos] ^= 1 << rng.randrange(8)
        elif kind == 2:  # bytes inserted
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind == 3 and buf:  # bytes deleted
            del buf[pos : pos + rng.randint(1, 8)]
        elif kind == 4:  # cut short
            buf = buf[: rng.randrange(len(buf) + 1)]
        elif kind == 5 and len(buf) >= 14:  # header: format, track count, time division
            field = rng.choice([8, 9, 10, 11, 12, 13])
            buf[field] = rng.choice([0, 1, 2, 3, 0x7F, 0x80, 0xE7, 0xE8, 0xFF, rng.randrange(256)])
        elif kind == 6 and chunks:  # a chunk length wrong
            start, length = rng.choice(chunks)
            new = max(0, length + rng.choice([-20, -3, -1, 1, 3, 50, 1 << 20, rng.randrange(-100, 100)]))
            buf[start + 4 : start + 8] = new.to_bytes(4, "big")
        elif kind == 7 and len(buf) >= 14:  # track count off
            buf[10:12] = rng.randrange(0, 6).to_bytes(2, "big")
        elif kind == 8:  # an unknown chunk before, between or after tracks
            at = rng.choice([14] + [s for s, _ in chunks] + [len(buf)])
            body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 20)))
            buf[at:at] = rng.choice([b"XFIH", b"XFKM", b"JUNK"]) + len(body).to_bytes(4, "big") + body
        elif kind == 9:  # a data byte above 127 in a channel event
            spots = [i for i in range(14, len(buf) - 2) if 0x80 <= buf[i] < 0xF0]
            if spots:
                buf[rng.choice(spots) + rng.choice([1, 2])] = rng.randrange(0x80, 0x100)
        elif kind == 10 and len(buf) >= 14:  # SMPTE or tiny time division
            fps = rng.choice([24, 25, 29, 30, 31])
            division = rng.choice([((256 - fps) << 8) | rng.choice([1, 4, 40, 80]), 1, 2, 3, 0])
            buf[12:14] = division.to_bytes(2, "big")
        elif kind == 11 and len(buf) >= 14:  # format 2
            buf[8:10] = (2).to_bytes(2, "big")
        elif kind == 12:  # a delta time over 4 bytes (up to a megabyte of continuation bytes)
            track = _events_track(bytes(buf))
            if track:
                at = track[0] + 8 + rng.randrange(max(1, track[1]))
                buf[at:at] = b"\x81" * rng.choice([5, 100, 1 << 20])
        elif kind == 13:  # a huge delta time (4 bytes) before an event
            track = _events_track(bytes(buf))
            if track:
                at = track[0] + 8 + rng.randrange(max(1, track[1]))
                buf[at:at] = b"\x8f\xff\xff\x7f"
        elif kind == 14:  # an impossible meta event
            track = _events_track(bytes(buf))
            if track:
                meta = rng.choice(
                    [b"\xff\x59\x02\x12\x05", b"\xff\x59\x00", b"\xff\x51\x03\x00\x00\x00", b"\xff\x58\x01\x04"]
                )
                at = track[0] + 8
                buf[at:at] = b"\x00" + meta
        elif kind == 15 and buf:  # a stretch duplicated
            size = rng.randint(1, 32)
            buf[pos:pos] = buf[pos : pos + size]
    return bytes(buf)


def make_file(seeds: dict[str, bytes], seed: int, index: int) -> tuple[str, bytes]:
    """(seed name, bytes) of file ``index`` of the run with ``seed``: 3% valid extremes, the
    rest mutated seed files."""
    rng = random.Random(seed * 1_000_003 + index)
    if rng.random() < 0.03:
        data = _semantic(rng)
        return "extreme", mutate(data, rng) if rng.random() < 0.5 else data
    group = rng.choice(sorted({name.split(":")[0] for name in seeds}))
    name = rng.choice(sorted(n for n in seeds if n.split(":")[0] == group))
    return name, mutate(seeds[name], rng)


# ---------- checks ----------


def _well_formed(data: bytes) -> bool:
    """SMF 1.0 structure: a 6-byte header, chunks that tile the file exactly, as many track
    chunks as the header counts, each ending with End of Track (mido checks none of these:
    it reads the number of tracks the header says and ignores what follows)."""
    if len(data) < 14 or data[:8] != b"MThd\x00\x00\x00\x06":
        return False
    chunks = _chunks(data)
    if not chunks or chunks[-1][0] + 8 + chunks[-1][1] != len(data):
        return False
    tracks = [(s, n) for s, n in chunks if data[s : s + 4] == b"MTrk"]
    if len(tracks) != int.from_bytes(data[10:12], "big") or len(tracks) != len(chunks):
        return False
    return all(data[s + 8 + n - 3 : s + 8 + n] == b"\xff\x2f\x00" for s, n in tracks)


def _strict_notes(data: bytes) -> Counter | None:
    """(pitch, velocity) of every note-on a strict reader finds, or None if it refuses.
    mido reads variable-length quantities of any length (a megabyte takes it 80 s); a strict
    reader refuses one over 4 bytes, so runs of 5 bytes >= 0x80 are refused here first."""
    if re.search(rb"[\x80-\xff]{5,}", data) or not _well_formed(data):
        return None
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except Exception:
        return None
    return Counter((m.note, m.velocity) for t in midi.tracks for m in t if m.type == "note_on" and m.velocity > 0)


def check_output(output: Path, source: bytes) -> str | None:
    """Why the written file is invalid, or None (see the module doc)."""
    try:
        midi = mido.MidiFile(output)
    except Exception as exc:
        return f"unreadable: {type(exc).__name__}"
    ends = []
    last_off = 0
    for track in midi.tracks:
        if not track or track[-1].type != "end_of_track":
            return "track without End of Track"
        tick, sounding = 0, Counter()
        for m in track:
            tick += m.time
            if m.type == "set_tempo" and m.tempo <= 0:
                return "tempo 0"
            if m.type == "note_on" and m.velocity > 0:
                sounding[(m.channel, m.note)] += 1
            elif m.type in ("note_on", "note_off"):
                if sounding[(m.channel, m.note)] <= 0:
                    return "note-off without note-on"
                sounding[(m.channel, m.note)] -= 1
                last_off = max(last_off, tick)
        if +sounding:
            return "note left without its note-off"
        ends.append(tick)
    bar = 64 * midi.ticks_per_beat // 4  # the longest bar the commands use (16/4)
    if max(ends) > last_off + bar:
        return f"output runs past its last note: {(max(ends) - last_off) / midi.ticks_per_beat:.0f} beats"
    primer = Counter(
        (m.note, m.velocity) for m in midi.tracks[1] if m.type == "note_on" and m.velocity > 0
    )  # for vary the first track is the original
    strict = _strict_notes(source)
    for pair in primer:
        if bytes(pair) not in source:
            return f"invented note: {pair}"
        if strict is not None and pair not in strict:
            return f"note not read by a strict reader: {pair}"
    return None


# ---------- worker ----------


class _Timeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Timeout()


def worker(jobs: list[dict], style: str, timeout: float) -> None:
    """Run each job ({"path", "command", "index"}) through the CLI; one JSON line per job."""
    import contextlib
    import signal
    import traceback

    from livemelody.cli import main

    if style == "tiny":  # the test suite's stand-in model
        os.environ["LIVEMELODY_MODELS"] = str(REPO / "tests" / "fixtures" / "models")
    signal.signal(signal.SIGALRM, _on_alarm)
    out_dir = Path(tempfile.mkdtemp(prefix="fuzz-out-"))
    for job in jobs:
        output = out_dir / "out.mid"
        output.unlink(missing_ok=True)
        command = job["command"]
        options = ["--bars", "1"] if command == "continue" else ["--amount", "1", "--count", "2"]
        argv = [command, job["path"], "-o", str(output), "--style", style, *options, "--seed", str(job["index"])]
        stderr = io.StringIO()
        result = {"index": job["index"]}
        t0 = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
                code = main(argv)
            signal.setitimer(signal.ITIMER_REAL, 0)
            result["code"] = code
        except _Timeout:
            result["crash"] = "hang"
        except BaseException as exc:  # the point: record every exception kind that escapes main
            signal.setitimer(signal.ITIMER_REAL, 0)
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            result["crash"] = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}"
        result["seconds"] = time.perf_counter() - t0
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        lines = stderr.getvalue().splitlines()
        if result.get("code") == 2 and (len([x for x in lines if "error" in x]) != 1):
            result["bad_stderr"] = True
        if any(not x.startswith("livemelody: ") for x in lines):
            result["bad_stderr"] = True
        if result.get("code") == 2 and lines:
            result["error"] = lines[-1].split(": ")[-1][:60]
        if result.get("code") == 0:
            result["invalid"] = check_output(output, Path(job["path"]).read_bytes())
        print(json.dumps(result), flush=True)
    shutil.rmtree(out_dir, ignore_errors=True)


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run(count: int, seeds: list[int], style: str, timeout: float, folder: Path) -> dict:
    """Write the files, run them in worker batches, and gather the figures."""
    sources = seed_files()
    jobs = []
    per_seed = -(-count // len(seeds))
    for seed in seeds:
        for index in range(per_seed):
            if len(jobs) >= count:
                break
            name, data = make_file(sources, seed, index)
            path = folder / f"{seed}-{index}.mid"
            path.write_bytes(data)
            command = "vary" if index % 3 == 2 else "continue"
            jobs.append({"path": str(path), "command": command, "index": len(jobs), "seed_file": name})
    results: dict[int, dict] = {}
    pending = list(jobs)
    while pending:
        batch, pending = pending[:BATCH], pending[BATCH:]
        process = subprocess.Popen(
            [sys.executable, "-m", "tools.fuzz_files", "--worker", "--style", style, "--timeout", str(timeout)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            preexec_fn=_limit_memory,
        )
        process.stdin.write(json.dumps(batch))
        process.stdin.close()
        for line in process.stdout:
            result = json.loads(line)
            results[result["index"]] = result
        process.wait()
        print(f"fuzz: {len(results):,} of {len(jobs):,} files", file=sys.stderr, flush=True)
        done = [j for j in batch if j["index"] in results]
        if len(done) < len(batch):  # the worker died (memory, a hang in native code): blame the next file
            lost = batch[len(done)]
            results[lost["index"]] = {"index": lost["index"], "crash": f"worker died (exit {process.returncode})"}
            pending = batch[len(done) + 1 :] + pending
    return summarise(jobs, results, seeds, style, timeout)


def summarise(jobs, results, seeds, style, timeout) -> dict:
    crashes = Counter(r["crash"] for r in results.values() if "crash" in r)
    invalid = Counter(r["invalid"].split(":")[0] for r in results.values() if r.get("invalid"))
    codes = Counter(r.get("code") for r in results.values() if "code" in r)
    slowest = max((r.get("seconds", 0) for r in results.values()), default=0)
    rss = max((r.get("rss_mb", 0) for r in results.values()), default=0)
    by_seed = Counter(j["seed_file"].split(":")[0] for j in jobs)
    return {
        "files": len(jobs),
        "seeds": seeds,
        "style": style,
        "continue": sum(1 for j in jobs if j["command"] == "continue"),
        "vary": sum(1 for j in jobs if j["command"] == "vary"),
        "written": codes.get(0, 0),
        "refused": codes.get(2, 0),
        "crashes": dict(crashes),
        "hangs": crashes.get("hang", 0),
        "invalid": dict(invalid),
        "bad_stderr": sum(1 for r in results.values() if r.get("bad_stderr")),
        "slowest_s": round(slowest, 2),
        "max_rss_mb": round(rss),
        "timeout_s": timeout,
        "memory_limit_gib": MEMORY_LIMIT >> 30,
        "by_seed": dict(by_seed),
        "errors": dict(Counter(r["error"] for r in results.values() if "error" in r).most_common(12)),
    }


def table(figures: dict) -> str:
    crashes = sum(figures["crashes"].values()) - figures["hangs"]
    invalid = sum(figures["invalid"].values())
    rows = [
        ("files (seeds " + ", ".join(map(str, figures["seeds"])) + ")", f"{figures['files']:,}"),
        ("through `continue` / `vary`", f"{figures['continue']:,} / {figures['vary']:,}"),
        ("from seed files: " + ", ".join(f"{k} {v}" for k, v in sorted(figures["by_seed"].items())), ""),
        ("output written (exit 0)", f"{figures['written']:,}"),
        ("refused in one line (exit 2)", f"{figures['refused']:,}"),
        ("tracebacks (exceptions out of `main`)", f"{crashes}"),
        (f"hangs over {figures['timeout_s']:g} s", f"{figures['hangs']}"),
        ("invalid output files (strict check)", f"{invalid}"),
        ("stderr not one `livemelody:` line per message", f"{figures['bad_stderr']}"),
        ("slowest file, s", f"{figures['slowest_s']}"),
        (f"largest worker peak RSS, MB (limit {figures['memory_limit_gib']} GiB)", f"{figures['max_rss_mb']}"),
    ]
    if "wall_s" in figures:
        rows.append(("wall time of the run, s (one worker process at a time)", f"{figures['wall_s']:,}"))
    lines = [f"| fuzz run, style `{figures['style']}` | |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    details = {**figures["crashes"], **figures["invalid"]}
    if details:
        lines.append("")
        lines += [f"- {kind}: {n}" for kind, n in sorted(details.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--style", default="deutsch")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per file")
    parser.add_argument("--write", action="store_true", help="put the figures in docs/DATA.md")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    parser.add_argument("--from-json", type=Path, default=None, help="take the figures of an earlier run's --json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(sys.stdin.read()), args.style, args.timeout)
        return 0
    if args.from_json:
        figures = json.loads(args.from_json.read_text())
    else:
        with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
            t0 = time.perf_counter()
            figures = run(args.count, args.seeds, args.style, args.timeout, Path(folder))
            figures["wall_s"] = round(time.perf_counter() - t0)
    text = table(figures)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    if args.write:
        from tools.docs_tables import replace_block

        replace_block(
            "fuzz",
            text
            + f"\n\nGenerated by `python -m tools.fuzz_files --count {figures['files']} --seeds "
            + " ".join(map(str, figures["seeds"]))
            + f" --style {figures['style']} --write`.",
        )
    failed = sum(figures["crashes"].values()) + sum(figures["invalid"].values()) + figures["bad_stderr"]
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
