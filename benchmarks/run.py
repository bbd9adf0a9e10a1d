"""The benchmark command: every speed figure, measured side by side in one run.

    python -m benchmarks.run                 # print the table
    python -m benchmarks.run --write-docs    # also regenerate docs/BENCHMARKS.md

Rows: onnxruntime step latency against PyTorch eager on the same weights (rebuilt from the
.onnx), a 64-step continuation including sampling (without and with the short-term model,
whose own cost per step is a row too; and, from benchmarks/blend.py, the same with the style
blend, and the live engine's step cost with and without it), the VAE's encode + decode and a
whole variation, the time until the runtime is ready (import + model load, in a fresh
interpreter), and live timing over a real JACK round trip (see benchmarks/live.py). Needs the
``train`` extra for the torch row and jackd for the live rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "BENCHMARKS.md"


@dataclass
class Row:
    """One measured figure: ``value`` in ``unit``; ``target`` is a readable bound or ''."""

    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None

    def cells(self) -> list[str]:
        verdict = "" if self.met is None else ("met" if self.met else "MISSED")
        return [self.name, f"{self.value:.3g} {self.unit}", self.target, verdict]


def percentile_us(samples_s: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples_s) * 1e6, q))


def time_calls(fn, repeats: int, warmup: int = 50) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def lstm_rows(style: str, repeats: int) -> list[Row]:
    """Step latency (ORT vs torch eager, same weights; the live one-thread session vs
    onnxruntime's default thread pool, whose tail is why the runtime uses one thread) and a
    64-step continuation."""
    import onnxruntime as ort
    import torch

    from livemelody.encoding.vocab import DELIMITER_ID
    from livemelody.generate import continue_tokens, primer_tokens
    from livemelody.models.lstm import LstmSession
    from livemelody.models.onnx import open_session
    from livemelody.models.registry import find_model
    from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN
    from livemelody.sampling import SamplingParams, sample
    from training.lstm import lstm_from_onnx
    from training.quantize import source_onnx

    json_path, meta = find_model("lstm", style)
    session = LstmSession(json_path, meta)
    torch.set_num_threads(1)
    model = lstm_from_onnx(source_onnx(json_path, meta))  # the float graph: the same weights before int8
    primer, _, _ = primer_tokens(AH_VOUS_DIRAI_JE_MAMAN, session)

    _, ort_state = session.prime(primer)
    token = np.array([[primer[-1]]], dtype=np.int64)

    bar = (np.array([[4]], np.int64), np.array([[16]], np.int64))  # a step of a 4/4 bar (the shared model's input)

    def ort_step():
        session.run(token, ort_state, bar)

    h, c = model.zero_state(1)
    torch_token = torch.from_numpy(token)
    feed = session.feeds(token, ort_state, bar)  # the graph's inputs, the shared model's style row and bars too
    extra = [torch.from_numpy(feed[name]) for name in ("style", "bar_pos", "bar_len") if name in feed]

    default_session = ort.InferenceSession(str(json_path.with_name(meta.onnx_file)), providers=["CPUExecutionProvider"])

    def default_threads_step():
        default_session.run(None, feed)

    def torch_step():
        with torch.no_grad():
            model(torch_token, h, c, *extra)

    float_session = open_session(source_onnx(json_path, meta))

    def float_step():
        float_session.run(None, feed)

    ort_samples = time_calls(ort_step, repeats)
    float_samples = time_calls(float_step, repeats)
    default_samples = time_calls(default_threads_step, repeats)
    torch_samples = time_calls(torch_step, repeats)
    rng = np.random.default_rng(0)
    params = SamplingParams(1.0, top_p=0.95)

    def step_by_step_continuation():
        """The baseline: LstmSession.step (InferenceSession.run, new arrays every step), as
        continue_tokens stepped before its Stepper (the same tokens for a seed)."""
        logits, state = session.prime([DELIMITER_ID, *primer])
        for i in range(64):
            token = sample(logits, params, rng, banned=(DELIMITER_ID,))
            if i < 63:
                logits, state = session.step(token, state)

    cont_samples, baseline_samples = [], []
    time_calls(lambda: continue_tokens(session, primer, 64, params, rng), 0, warmup=5)
    time_calls(step_by_step_continuation, 0, warmup=5)
    for _ in range(max(repeats // 20, 100)):  # interleaved, so that both see the same machine
        cont_samples += time_calls(lambda: continue_tokens(session, primer, 64, params, rng), 1, warmup=0)
        baseline_samples += time_calls(step_by_step_continuation, 1, warmup=0)
    ort_p50, ort_p99 = percentile_us(ort_samples, 50), percentile_us(ort_samples, 99)
    torch_p50, torch_p99 = percentile_us(torch_samples, 50), percentile_us(torch_samples, 99)
    cont_p50, cont_p99 = percentile_us(cont_samples, 50) / 1000, percentile_us(cont_samples, 99) / 1000
    return [
        Row(f"LSTM {style} step, onnxruntime p50", ort_p50, "us"),
        # issue 12's target for the shared LSTM (hidden 384, style and bar inputs); the first
        # version's seed-size per-style LSTM had 100 us (its rows below, "per-style baseline")
        Row(f"LSTM {style} step, onnxruntime p99", ort_p99, "us", "<= 150 us", ort_p99 <= 150),
        Row(
            f"LSTM {style} step, onnxruntime p99.9, one thread (as the runtime opens it)",
            percentile_us(ort_samples, 99.9),
            "us",
        ),
        Row(f"LSTM {style} step, onnxruntime p99.9, default thread pool", percentile_us(default_samples, 99.9), "us"),
        Row(
            f"LSTM {style} step, float graph before int8 (training.quantize) p50",
            percentile_us(float_samples, 50),
            "us",
        ),
        Row(f"LSTM {style} step, float graph before int8 p99", percentile_us(float_samples, 99), "us"),
        Row(f"LSTM {style} step, torch eager p50", torch_p50, "us"),
        Row(f"LSTM {style} step, torch eager p99", torch_p99, "us"),
        Row(
            f"LSTM {style} step, eager / onnxruntime at p50",
            torch_p50 / ort_p50,
            "x",
            ">= 5x",
            torch_p50 / ort_p50 >= 5,
        ),
        Row(f"64-step continuation incl. sampling p50 ({style})", cont_p50, "ms"),
        Row(
            f"64-step continuation p50, baseline: LstmSession.step per step (InferenceSession.run) ({style})",
            percentile_us(baseline_samples, 50) / 1000,
            "ms",
        ),
        Row(
            f"64-step continuation p99, baseline: LstmSession.step per step ({style})",
            percentile_us(baseline_samples, 99) / 1000,
            "ms",
        ),
        Row(
            "64-step continuation p50, Stepper (bound buffers) / baseline",
            cont_p50 * 1000 / percentile_us(baseline_samples, 50),
            "x",
        ),
        Row(f"64-step continuation incl. sampling p99 ({style})", cont_p99, "ms", "<= 5 ms", cont_p99 <= 5),
        *baseline_model_rows(style, primer, repeats, ort_p50, cont_samples),
        *stm_rows(session, primer, style, repeats),
    ]


def baseline_model_rows(style: str, primer: list[int], repeats: int, ort_p50: float, cont_samples) -> list[Row]:
    """The per-style LSTM the shared one replaced (``exported_models/baseline``, int8, the seed's
    size), measured in the same run: its step and its 64-step continuation, and the ratios."""
    from livemelody.generate import continue_tokens
    from livemelody.models.registry import load_lstm
    from livemelody.sampling import SamplingParams
    from training.shipped import BASELINE

    old = load_lstm(style, [BASELINE])
    token = np.array([[primer[-1]]], dtype=np.int64)
    _, state = old.prime(primer)
    step = time_calls(lambda: old.run(token, state), repeats)
    rng = np.random.default_rng(0)
    params = SamplingParams(1.0, top_p=0.95)
    cont = time_calls(lambda: continue_tokens(old, primer, 64, params, rng), max(repeats // 20, 100), warmup=5)
    return [
        Row(
            f"per-style baseline LSTM {style} step (exported_models/baseline), onnxruntime p50",
            percentile_us(step, 50),
            "us",
        ),
        Row("LSTM step p50, shipped shared / per-style baseline", ort_p50 / percentile_us(step, 50), "x"),
        Row(f"per-style baseline: 64-step continuation p99 ({style})", percentile_us(cont, 99) / 1000, "ms"),
        Row(
            "64-step continuation p50, shipped shared / per-style baseline",
            percentile_us(cont_samples, 50) / percentile_us(cont, 50),
            "x",
        ),
    ]


@contextmanager
def stm_path(native: bool):
    """TokenStm on its C library (``native``, where it loads: the runtime's path) or on the
    Python PPM, for the rows measured side by side."""
    from livemelody.ppm import TokenStm

    saved = TokenStm.NATIVE
    TokenStm.NATIVE = native
    try:
        yield
    finally:
        TokenStm.NATIVE = saved


def runtime_stm_path(vocab_size: int) -> str:
    """Which short-term model the runtime runs here: "C" (``livemelody/_stm.c``) or "Python"
    (no C compiler; the reason is in the log)."""
    from livemelody.ppm import TokenStm

    return "C" if TokenStm(vocab_size, 0.1).native else "Python"


def stm_rows(session, primer: list[int], style: str, repeats: int) -> list[Row]:
    """The short-term model at the ``stm_weight`` default: 64-step continuations with it on the
    runtime's path (C where it builds) and on the Python PPM, beside weight 0, interleaved so
    that all three see the same machine; and the model's own cost per step on both paths. The
    runtime's path is printed and named in the rows."""
    from livemelody.config import SETTINGS
    from livemelody.generate import continue_tokens
    from livemelody.sampling import SamplingParams

    weight = SETTINGS["stm_weight"].default
    runtime = runtime_stm_path(session.vocab.size)
    print(f"short-term model: the runtime's path here is {runtime}", file=sys.stderr)
    paths = [runtime] + (["Python"] if runtime == "C" else [])
    params = SamplingParams(1.0, top_p=0.95)
    rng = np.random.default_rng(2)
    runs = {"weight 0": [], **{path: [] for path in paths}}

    def continuation(w: float):
        return lambda: continue_tokens(session, primer, 64, params, rng, stm_weight=w)

    for name in runs:
        with stm_path(name == "C"):
            time_calls(continuation(0.0 if name == "weight 0" else weight), 0, warmup=5)
    for _ in range(max(repeats // 20, 100)):
        for name, samples in runs.items():
            with stm_path(name == "C"):
                samples += time_calls(continuation(0.0 if name == "weight 0" else weight), 1, warmup=0)
    rows = []
    for name, samples in runs.items():
        label = "weight 0, the LSTM alone" if name == "weight 0" else f"weight {weight:g}, {_stm_label(name, runtime)}"
        p50, p99 = percentile_us(samples, 50) / 1000, percentile_us(samples, 99) / 1000
        rows.append(Row(f"64-step continuation with the short-term model ({label}) p50 ({style})", p50, "ms"))
        runtime_row = name == runtime
        rows.append(
            Row(
                f"64-step continuation with the short-term model ({label}) p99 ({style})",
                p99,
                "ms",
                "<= 5 ms" if runtime_row else "",
                p99 <= 5 if runtime_row else None,
            )
        )
    for path in paths:
        with stm_path(path == "C"):
            step_samples, build_samples = stm_step_samples(session, primer, weight, max(repeats // 50, 40))
        label = _stm_label(path, runtime)
        rows += [
            Row(f"short-term model: mix + learn, per step p50 ({label})", percentile_us(step_samples, 50), "us"),
            Row(f"short-term model: mix + learn, per step p99 ({label})", percentile_us(step_samples, 99), "us"),
            Row(
                f"short-term model: built from the primer ({len(primer) + 1} tokens) p50 ({label})",
                percentile_us(build_samples, 50),
                "us",
            ),
            Row(
                f"short-term model: built from the primer ({len(primer) + 1} tokens) p99 ({label})",
                percentile_us(build_samples, 99),
                "us",
            ),
        ]
    return rows


def _stm_label(path: str, runtime: str) -> str:
    where = "C, _stm.c" if path == "C" else "Python PPM"
    return f"{where}, the runtime's path" if path == runtime else f"{where}, without a C compiler"


def stm_step_samples(session, primer: list[int], weight: float, runs: int) -> tuple[list[float], list[float]]:
    """Seconds per step of the short-term model alone (mix the LSTM's logits, learn the sampled
    token) over 64-step continuations of ``primer``, and seconds to build it from the primer;
    on the path TokenStm takes (:func:`stm_path`)."""
    from livemelody.encoding.vocab import DELIMITER_ID
    from livemelody.generate import continue_tokens
    from livemelody.ppm import TokenStm
    from livemelody.sampling import SamplingParams

    rng = np.random.default_rng(1)
    logits, _ = session.prime([DELIMITER_ID, *primer])
    steps, builds = [], []
    for _ in range(runs):
        tokens = continue_tokens(session, primer, 64, SamplingParams(1.0, top_p=0.95), rng, stm_weight=weight)
        started = time.perf_counter()
        stm = TokenStm(session.vocab.size, weight, [DELIMITER_ID, *primer])
        builds.append(time.perf_counter() - started)
        for token in tokens:
            started = time.perf_counter()
            stm.distribution(logits)  # what the sampler draws from
            stm.learn(token)
            steps.append(time.perf_counter() - started)
    return steps, builds


def vae_rows(style: str, repeats: int) -> list[Row]:
    """VAE encode + decode of one phrase, and a whole variation of the seed's primer: key
    detection, transposition, events, encode, sample z, decode, back to notes in the key."""
    from livemelody.models.registry import load_vae
    from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN
    from livemelody.variation import encode_phrase, vary

    session = load_vae(style)
    phrase = encode_phrase(session, AH_VOUS_DIRAI_JE_MAMAN)

    def encode_decode():
        mean, _ = session.encode(phrase.pitches, phrase.durations)
        session.decode(mean)

    rng = np.random.default_rng(0)
    codec = time_calls(encode_decode, repeats)
    whole = time_calls(lambda: vary(session, AH_VOUS_DIRAI_JE_MAMAN, 0.5, 1, rng), repeats)
    codec_p99, whole_p99 = percentile_us(codec, 99) / 1000, percentile_us(whole, 99) / 1000
    return [
        Row(f"VAE {style} encode + decode p50", percentile_us(codec, 50) / 1000, "ms"),
        Row(f"VAE {style} encode + decode p99", codec_p99, "ms", "<= 1 ms", codec_p99 <= 1),
        Row(
            f"VAE {style} whole variation (key, encode, sample, decode, notes) p50",
            percentile_us(whole, 50) / 1000,
            "ms",
        ),
        Row(
            f"VAE {style} whole variation (key, encode, sample, decode, notes) p99",
            whole_p99,
            "ms",
            "<= 2 ms",
            whole_p99 <= 2,
        ),
    ]


READY_SNIPPET = (
    "import time; t = time.perf_counter(); "
    "from livemelody.models.registry import load_lstm; from livemelody.generate import continue_tokens; "
    "s = load_lstm('{style}'); s.prime([0, 10]); print(time.perf_counter() - t)"
)


def ready_rows(style: str, runs: int) -> list[Row]:
    """Import + load in a fresh interpreter: in-process figure and whole-process wall time."""
    inner, whole = [], []
    for _ in range(runs):
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", READY_SNIPPET.format(style=style)], capture_output=True, text=True, check=True
        )
        whole.append(time.perf_counter() - started)
        inner.append(float(out.stdout.strip()))
    return [
        Row("runtime ready: import + load + first call, median", float(np.median(inner)), "s"),
        Row("runtime ready: import + load + first call, max", max(inner), "s", "<= 1.5 s", max(inner) <= 1.5),
        Row("runtime ready incl. interpreter start, max", max(whole), "s"),
    ]


SOAK_BEGIN, SOAK_END = "<!-- soak: python -m benchmarks.run --soak -->", "<!-- /soak -->"


def soak_section(text: str) -> str:
    """The soak's section of docs/BENCHMARKS.md (markers included), or "" when it has none."""
    start, end = text.find(SOAK_BEGIN), text.find(SOAK_END)
    return text[start : end + len(SOAK_END)] + "\n" if start >= 0 and end > start else ""


def with_soak(text: str, section: str) -> str:
    """``text`` with its soak section replaced by ``section`` (appended when it has none): the
    soak is written by its own command (``--soak MINUTES --write-docs``) and kept by the full one."""
    old = soak_section(text)
    if old:
        return text.replace(old, section)
    return text.rstrip("\n") + "\n\n" + section


def table(rows: list[Row]) -> str:
    header = ["measure", "value", "target", "verdict"]
    cells = [r.cells() for r in rows]
    widths = [max(len(line[i]) for line in [header] + cells) for i in range(len(header))]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |" for line in cells]
    return "\n".join(lines)


def environment() -> str:
    import onnxruntime

    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"onnxruntime {onnxruntime.__version__}, torch {torch_version}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5000, help="timed calls per latency row")
    parser.add_argument("--style", default="deutsch")
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help=f"rewrite {DOC.relative_to(REPO)} (with --soak: only its soak section)",
    )
    parser.add_argument("--no-live", action="store_true", help="skip the live rows over JACK (about 12 minutes)")
    parser.add_argument("--live-only", action="store_true", help="only the live rows (not with --write-docs)")
    parser.add_argument("--turns", type=int, default=12, help="calls played per live scenario; default 12")
    parser.add_argument(
        "--jack-ports",
        action="store_true",
        help="with --live-only: only the engine's two ways of holding its JACK ports (RtMidi's client per port, "
        "one client with a C process callback), scenario by scenario side by side, with JACK's xruns",
    )
    parser.add_argument(
        "--soak",
        type=float,
        default=None,
        metavar="MINUTES",
        help="only the soak (benchmarks/soak.py): MINUTES of a set with the dashboard, recording, metronome",
    )
    parser.add_argument(
        "--soak-baseline",
        type=Path,
        default=None,
        metavar="TREE",
        help="with --soak: the same soak in another checkout (`git worktree add --detach TREE COMMIT`), beside it",
    )
    args = parser.parse_args(argv)
    if args.soak is not None:
        from benchmarks.soak import soak_rows

        rows, notes = soak_rows(args.soak, args.soak_baseline)
        print(environment())
        for note in notes:
            print(note)
        print(table(rows))
        if args.write_docs:
            command = (
                f"python -m benchmarks.run --soak {args.soak:g}"
                + (" --soak-baseline TREE" if args.soak_baseline else "")
                + " --write-docs"
            )
            section = (
                f"{SOAK_BEGIN}\n## Soak\n\nGenerated by `{command}`; do not edit by hand.\n"
                f"Measured {time.strftime('%Y-%m-%d')} on {environment()}.\n\n"
                + "".join(f"- {note}\n" for note in notes)
                + "\n"
                + table(rows)
                + f"\n{SOAK_END}\n"
            )
            DOC.write_text(with_soak(DOC.read_text() if DOC.exists() else "# Benchmarks\n", section))
        return 0 if all(r.met is not False for r in rows) else 1
    if args.live_only and (args.no_live or args.write_docs):
        parser.error("--live-only goes with neither --no-live nor --write-docs (the docs hold every row)")
    if args.jack_ports and not args.live_only:
        parser.error("--jack-ports goes with --live-only")
    rows: list[Row] = []
    notes: list[str] = []
    if not args.live_only:
        from benchmarks.blend import blend_rows

        partner = "han" if args.style != "han" else "deutsch"
        rows += lstm_rows(args.style, args.repeats) + blend_rows(args.style, partner)
        rows += vae_rows(args.style, args.repeats) + ready_rows(args.style, 5)
    if args.jack_ports:
        from benchmarks.live import jack_ports_rows

        live, notes = jack_ports_rows(args.turns)
        rows += live
    elif not args.no_live:
        from benchmarks.live import live_rows

        live, notes = live_rows(args.turns)
        rows += live
    text = table(rows)
    print(environment())
    for note in notes:
        print(note)
    print(text)
    if args.write_docs:
        DOC.parent.mkdir(exist_ok=True)
        kept = soak_section(DOC.read_text()) if DOC.exists() else ""
        DOC.write_text(
            "# Benchmarks\n\nGenerated by `python -m benchmarks.run --write-docs`; do not edit by hand.\n"
            f"Measured {time.strftime('%Y-%m-%d')} on {environment()}.\n"
            "All rows come from one run, side by side; shared machines are noisy, so compare "
            "ratios within a run rather than figures across runs.\n\n"
            "Live rows: *scheduled notes, lateness* is when a separate JACK client received each "
            "note-on, minus its grid time; it includes JACK's delivery (0..1 period) and the JACK "
            "dummy server's own hiccups. *Engine send lateness* is measured inside the engine, at "
            "the moment it hands the message to the MIDI API: the part livemelody is responsible "
            "for; it covers every event the engine sent (note-offs and clicks included) from the "
            "moment the received rows start counting until the engine stops. "
            "Rows marked baseline (and the JACK-without-realtime scenario) have no target: they "
            "show what the shipped design avoids.\n\n"
            + "".join(f"- {note}\n" for note in notes)
            + ("\n" if notes else "")
            + text
            + "\n"
            + ("\n" + kept if kept else "")
        )
    return 0 if all(r.met is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
