"""Training figures: corpus preparation, DDP scaling, and time to a usable style.

    python -m benchmarks.training                   # print the tables (about 25 minutes on 2 cores)
    python -m benchmarks.training --write-docs      # also regenerate docs/TRAINING.md's figures
    python -m benchmarks.training --only ddp        # one section (prepare, memory, ddp, style)

The folders are Irish and American fiddle tunes music21 ships (O'Neill's 1850 and Ryan's Mammoth
collections), written one tune a MIDI file by ``tools.make_style_folder`` into
``.cache/benchmarks/`` (made once). Every figure comes from the real command
(``livemelody train`` or ``torchrun ... livemelody train``) in a fresh process, with torch on one
thread per process, and is read back from what the command wrote (the token cache's summary,
the model's sidecar), so nothing here is typed in.

- preparation: files per second of :func:`training.folder_corpus.build_cache` with 1 and 2
  reading processes, on the largest folder;
- DDP: optimiser steps per second with 1 process and with 2 under ``torchrun`` (gloo, CPU),
  same global batch and seed, on the 300-file folder (fine-tuning, 2 epochs), and the two runs'
  validation NLL;
- time to a usable style: the whole default command (read, fine-tune with early stopping,
  evaluate, VAE, style evidence, export, install) on 30, 300 and 3,000 files; "usable" means
  installed, with its held-out NLL below the best n-gram's. Runs longer than ``--cap-minutes``
  of LSTM training stop after the epoch that passes it (``--max-minutes``), as the table says.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "TRAINING.md"
FOLDERS = REPO / ".cache" / "benchmarks"
COLLECTIONS = ["oneills1850", "ryansMammoth"]
SECTIONS = ("prepare", "memory", "ddp", "style")
"""The doc's generated blocks, each between its own markers (see :func:`replace_block`); ``--only``
runs some of them and leaves the others as they are."""


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the block ``name`` (between its begin/end markers) set to ``body``; the block
    is appended if the markers are missing."""
    begin, end = f"<!-- {name}: begin (python -m benchmarks.training --write-docs) -->", f"<!-- {name}: end -->"
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        return re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    return text.rstrip("\n") + "\n\n" + block + "\n"


def style_folder(count: int) -> Path:
    """``.cache/benchmarks/fiddle<count>``, made once with ``tools.make_style_folder``."""
    from tools.make_style_folder import make_folder

    folder = FOLDERS / f"fiddle{count}"
    if not folder.is_dir() or len(list(folder.glob("*.mid"))) < count * 0.95:
        made = make_folder(COLLECTIONS, folder, count, os.cpu_count() or 1)
        print(f"wrote {made} files into {folder}", file=sys.stderr)
    return folder


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def train(args: list, processes: int = 1, timeout: float = 3600) -> tuple[float, subprocess.CompletedProcess]:
    """(wall seconds, result) of ``livemelody train ARGS`` (under torchrun for processes > 1)."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    command = (launcher if processes > 1 else [sys.executable]) + ["-m", "livemelody", "train", *map(str, args)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=_env(), timeout=timeout)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return seconds, result


def preparation(folder: Path) -> list[list[str]]:
    from training import folder_corpus

    sources, _ = folder_corpus.find_sources([folder])
    rows = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as work:
            started = time.perf_counter()
            cache = folder_corpus.build_cache(sources, Path(work) / "cache", workers)
            seconds = time.perf_counter() - started
        rows.append(
            [
                str(workers),
                str(len(sources)),
                str(cache.summary["songs"]),
                f"{seconds:.1f}",
                f"{len(sources) / seconds:.0f}",
            ]
        )
    return rows


def memory(folder: Path, copies: list[int]) -> list[list[str]]:
    """Peak memory of the preparing (main) process for the folder linked ``k`` times over, each k."""
    rows = []
    files = sorted(folder.glob("*.mid"))
    for k in copies:
        with tempfile.TemporaryDirectory() as work:
            for i in range(k):
                (Path(work) / "in" / f"copy{i}").mkdir(parents=True)
                for path in files:
                    os.link(path, Path(work) / "in" / f"copy{i}" / path.name)
            command = [sys.executable, "-m", "training.folder_corpus", f"{work}/in", "--workers", "2"]
            result = subprocess.run(
                command + ["--cache", f"{work}/cache"], capture_output=True, text=True, cwd=REPO, env=_env()
            )
            figures = json.loads(result.stdout)
        rows.append(
            [
                str(figures["files"]),
                str(figures["songs"]),
                f"{figures['tokens'] / 1e6:.1f}",
                f"{figures['seconds']:.0f}",
                f"{figures['peak_rss_mib']:.0f}",
            ]
        )
    return rows


def ddp(folder: Path) -> tuple[list[list[str]], float]:
    rows, per_second = [], {}
    for processes in (1, 2):
        with tempfile.TemporaryDirectory() as work:
            args = ["bench", folder, "--work", f"{work}/w", "--models", f"{work}/m", "--no-vae", "--no-evidence"]
            args += ["--max-epochs", "2", "--patience", "50", "--no-progress"]
            seconds, _ = train(args, processes)
            meta = json.loads(Path(f"{work}/m/lstm_bench.json").read_text())
        history = meta["training"]["history"]
        steps, busy = sum(history["steps"]), sum(history["seconds"])
        per_second[processes] = steps / busy
        rows.append(
            [
                str(processes),
                str(meta["training"]["batch_size"]),
                str(steps),
                f"{busy:.1f}",
                f"{steps / busy:.2f}",
                " / ".join(f"{v:.4f}" for v in history["valid"]),
            ]
        )
    return rows, per_second[2] / per_second[1]


def usable(count: int, folder: Path, cap_minutes: float) -> list[str]:
    with tempfile.TemporaryDirectory() as work:
        args = [f"bench{count}", folder, "--work", f"{work}/w", "--models", f"{work}/m", "--no-progress"]
        args += ["--max-minutes", str(cap_minutes)]
        seconds, result = train(args)
        lstm = json.loads(Path(f"{work}/m/lstm_bench{count}.json").read_text())
        vae = json.loads(Path(f"{work}/m/vae_bench{count}_encoder.json").read_text())
    test, history = lstm["metrics"]["test"], lstm["training"]["history"]
    evidence = lstm["metrics"]["style_evidence"]
    heard = evidence.get(f"continuations_of_openings_heard_as_bench{count}", {})
    read = re.search(r"read with \d+ process\(es\) in ([\d.]+) s", result.stdout)
    is_usable = test["lstm"]["nll_nats"] < test["ngram_best"]["nll_nats"]
    return [
        str(lstm["data"]["counts"]["files"]),
        str(lstm["data"]["counts"]["songs"]),
        str(lstm["data"]["split_sizes"]["train"]),
        f"{len(history['valid'])} ({history['stopped']})",
        f"{float(read.group(1)) if read else 0:.1f}",
        f"{sum(history['seconds']):.0f}",
        f"{vae['training']['train_seconds']:.0f}",
        f"{seconds:.0f}",
        f"{test['base']['nll_nats']:.3f} -> {test['lstm']['nll_nats']:.3f}",
        f"{test['ngram_best']['nll_nats']:.3f}",
        f"{heard.get(f'bench{count}', 0):.2f} / {heard.get('deutsch', 0):.2f} / {heard.get('han', 0):.2f}",
        "yes" if is_usable else "no",
    ]


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def environment() -> str:
    import platform

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    load = os.getloadavg()[0]
    return (
        f"{platform.machine()}, {os.cpu_count()} cores (load average {load:.1f} when the run began), "
        f"Python {platform.python_version()}, torch {torch.__version__}, {gpu}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-docs", action="store_true", help=f"rewrite the figures in {DOC.relative_to(REPO)}")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections to run (of {', '.join(SECTIONS)})")
    parser.add_argument("--sizes", default="30,300,3000", help="folder sizes for the time-to-style runs")
    parser.add_argument("--memory-copies", type=int, default=10, help="the largest folder linked this many times over")
    parser.add_argument("--cap-minutes", type=float, default=8.0, help="LSTM training time cap per run")
    args = parser.parse_args(argv)
    only = args.only.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    folders = {n: style_folder(n) for n in sorted(set(sizes) | {300})}
    largest = max(folders)
    measured = f"Measured {time.strftime('%Y-%m-%d')} on {environment()}, one torch thread per process."
    sections: dict[str, str] = {}
    if "prepare" in only:
        prep = preparation(folders[largest])
        sections["prepare"] = (
            f"### Corpus preparation\n\n{measured}\n\n"
            + markdown(["reading processes", "files", "songs kept", "seconds", "files/s"], prep)
            + f"\n\n2 processes / 1: {float(prep[1][4]) / float(prep[0][4]):.2f}x."
        )
    if "memory" in only:
        copies = [1, args.memory_copies]
        sections["memory"] = (
            f"### Memory while preparing\n\n{measured}\n\nThe {largest}-file folder linked k times over "
            f"(k = {', '.join(map(str, copies))}), 2 reading processes: peak resident memory of the main process, "
            "which streams the results into the cache.\n\n"
            + markdown(["files", "songs", "tokens (M)", "seconds", "peak RSS (MiB)"], memory(folders[largest], copies))
        )
    if "ddp" in only:
        rows, ratio = ddp(folders[300])
        sections["ddp"] = (
            f"### Training steps per second, 1 and 2 processes (DDP, gloo, CPU)\n\n{measured}\n\n"
            "300 files, fine-tuning deutsch, 2 epochs, the same global batch and seed; each of the 2 processes "
            "takes half of every batch.\n\n"
            + markdown(["processes", "global batch", "steps", "seconds", "steps/s", "validation NLL per epoch"], rows)
            + f"\n\n2 processes / 1: {ratio:.2f}x steps per second."
        )
    if "style" in only:
        style_rows = []
        for n in sizes:
            style_rows.append(usable(n, folders[n], args.cap_minutes))
            print(" | ".join(style_rows[-1]), flush=True)
        header = ["files", "songs", "train songs", "LSTM epochs", "read s", "LSTM s", "VAE s", "total s"]
        header += ["test NLL base -> new", "best n-gram NLL", "heard as own", "usable"]
        sections["style"] = (
            f"### Time to a usable style\n\n{measured}\n\n"
            f"The whole default command, 1 process; LSTM training capped at {args.cap_minutes:g} minutes "
            "(`--max-minutes`; the epochs column says why each run stopped). NLL in nats per 16th step on the "
            "held-out songs (at most 500): the base deutsch model before fine-tuning -> after; *heard as own* is "
            "the share of 100 continuations of the held-out openings that the style-evidence classifier hears as "
            "the new style, from the new model / deutsch / han.\n\n" + markdown(header, style_rows)
        )
    for name in SECTIONS:
        if name in sections:
            print(sections[name] + "\n", flush=True)
    if args.write_docs:
        text = DOC.read_text()
        for name in SECTIONS:
            if name in sections:
                text = replace_block(text, name, sections[name])
        DOC.write_text(text)
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
