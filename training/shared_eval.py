"""The shipped shared LSTM (one model, style + bar inputs) against the per-style LSTMs it replaced
(the baseline), on their own test songs, with and without the short-term model; step cost at 1
thread; the PPM LTM+STM pitch figure on the same songs.

    python -m training.shared_eval                               # print (the shipped model)
    python -m training.shared_eval --write-docs                  # + docs/EVALUATION.md, section "shared"
    python -m training.shared_eval .cache/shared/lstm_shared.json   # a model just trained

For each style: the baseline ``exported_models/baseline/lstm_<style>.json`` (:data:`training.shipped.BASELINE`,
its int8 graph, as it played) and the shared model (its int8 graph: run ``python -m
training.quantize`` on it first; the float graph is used, and said, when it is not quantized),
scored by :mod:`training.metrics` on the baseline's ``data.test_ids`` (the shared model's
metadata must name the same test songs). "+STM": the run-time mixture of
:class:`livemelody.ppm.TokenStm`, IDyOM's entropy-weighted arithmetic combination with the
STM's prior s and bias b: "as it plays" with the runtime's (s, b) (:func:`training.ppm_eval.runtime_mixture`),
and with (s, b) chosen per model and style on the validation songs over the grid
:mod:`training.ppm_eval` uses (:func:`training.ppm_eval.mixture_grid`,
:func:`training.ppm_eval.best_mixture`). The shared model gets each song's style as a one-hot
``style`` row and its bar inputs from the score's time signatures (:mod:`training.bars`).
PPM LTM+STM: IDyOM's defaults on pitch (:func:`training.ppm_eval.ppm_dists`, the same test
songs, the LTM trained on the style's training songs), for the styles with a pitch target.

Step cost: one token at batch 1 with the state fed back, onnxruntime on 1 thread, p50 and p99
of ``--steps`` timed calls after 200 untimed ones (a timing on a shared machine: read it beside
the baseline's, measured in the same run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from livemelody.encoding import Vocabulary
from livemelody.models.metadata import load_metadata
from training.dataset import Song, load_shared
from training.doc_sections import markdown_table, write_section
from training.ppm_eval import (
    BIAS,
    LTM,
    STM,
    TARGET_BITS,
    TARGET_NLL_CUT,
    best_mixture,
    bits,
    combined,
    measure,
    mixed,
    mixture_grid,
    pitches,
    ppm_dists,
    runtime_mixture,
    token_stm_probs,
)
from training.quantize import _session, source_onnx
from training.shipped import BASELINE, SHIPPED

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "EVALUATION.md"
SECTION = "shared"
COMMAND = "python -m training.shared_eval --write-docs"


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


class Scorer:
    """An exported LSTM on onnxruntime (1 thread): next-token probabilities of whole songs and
    the cost of one step. ``styles``: the style names of a shared model (its ``style`` input)."""

    def __init__(self, json_path: Path):
        self.meta = load_metadata(json_path)
        self.path = Path(json_path).with_name(self.meta.onnx_file)
        self.int8 = "quantization" in self.meta.metrics
        self.session = _session(self.path)
        self.hidden = int(self.meta.dimensions["hidden_size"])
        self.styles: list[str] = list(self.meta.data.get("styles", []))
        self.conditioned = "style" in self.meta.inputs

    def feeds(self, tokens: np.ndarray, song: Song | None, start: int = 0) -> dict:
        """Inputs for ``tokens`` [1, T] (steps ``start``.. of ``song``), without the state."""
        feeds = {"tokens": tokens}
        if self.conditioned:
            style = np.zeros((1, len(self.styles)), np.float32)
            style[0, song.style_index] = 1.0
            end = start + tokens.shape[1]
            feeds.update(
                style=style,
                bar_pos=np.asarray([song.bar_pos[start:end]], np.int64),
                bar_len=np.asarray([song.bar_len[start:end]], np.int64),
            )
        return feeds

    def probabilities(self, song: Song) -> np.ndarray:
        """[len(sequence) - 1, V] next-token probabilities of ``song`` from the zero state."""
        tokens = np.asarray([song.sequence[:-1]], np.int64)
        zero = np.zeros((1, 1, self.hidden), np.float32)
        logits = self.session.run(["logits"], {**self.feeds(tokens, song), "h": zero, "c": zero})[0][0]
        return _softmax(logits)

    def step_cost(self, song: Song, steps: int) -> dict:
        """p50 and p99 (ms) of one step at batch 1, tokens and bar inputs from ``song`` cycled."""
        h = c = np.zeros((1, 1, self.hidden), np.float32)
        n = len(song.sequence) - 1
        times = []
        for i in range(200 + steps):
            j = i % n
            feeds = self.feeds(np.asarray([[song.sequence[j]]], np.int64), song, j)
            started = time.perf_counter_ns()
            _, h, c = self.session.run(None, {**feeds, "h": h, "c": c})
            elapsed = time.perf_counter_ns() - started
            if i >= 200:
                times.append(elapsed / 1e6)
            if j == n - 1:
                h = c = np.zeros((1, 1, self.hidden), np.float32)
        return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}


def model_figures(scorer: Scorer, parts: dict[str, list[Song]], vocab: Vocabulary, stm: dict) -> dict:
    """Test figures of one model alone and with the token STM (prior and bias chosen on validation)."""
    probs = {name: [scorer.probabilities(s) for s in songs] for name, songs in parts.items()}
    seqs = {name: [s.sequence for s in songs] for name, songs in parts.items()}
    valid = mixture_grid(probs["valid"], stm["valid"], seqs["valid"])
    weight, bias, _ = best_mixture(valid)
    playing = runtime_mixture()
    return {
        "alone": measure(zip(probs["test"], seqs["test"])),
        "stm": measure(zip(mixed(probs["test"], stm["test"], weight, bias), seqs["test"])),
        "stm_as_it_plays": measure(zip(mixed(probs["test"], stm["test"], *playing), seqs["test"])),
        "as_it_plays": playing,
        "weight": weight,
        "bias": bias,
        "valid_grid": valid,
    }


def evaluate(shared_json: Path, styles: list[str] | None, steps: int, log=print) -> dict:
    """Every figure of the section, per style; see the module doc."""
    shared = Scorer(shared_json)
    vocab = Vocabulary.from_symbols(shared.meta.encoding.symbols)
    styles = styles or shared.styles
    splits, _ = load_shared(tuple(shared.styles), vocab, extra=False)
    figures: dict = {"styles": {}, "shared_int8": shared.int8, "training": _training(shared.meta)}
    for style in styles:
        started = time.perf_counter()
        index = shared.styles.index(style)
        shipped = Scorer(BASELINE / f"lstm_{style}.json")
        by_id = {s.song_id: s for part in splits.values() for s in part if s.style_index == index}
        ids = {part: shipped.meta.data[f"{part}_ids"] for part in ("valid", "test")}
        if shared.meta.data["test_ids"][style] != ids["test"]:
            raise SystemExit(f"{style}: the shared model's test songs differ from the shipped model's")
        parts = {part: [by_id[i] for i in ids[part]] for part in ids}
        stm = {part: [token_stm_probs(s.sequence, vocab.size) for s in songs] for part, songs in parts.items()}
        row = {
            "songs": {part: len(songs) for part, songs in parts.items()},
            "with_bars": sum(any(s.bar_len) for s in parts["test"]),
            "shipped": model_figures(shipped, parts, vocab, stm),
            "shared": model_figures(shared, parts, vocab, stm),
        }
        longest = max(parts["test"], key=lambda s: len(s.sequence))
        blind = [replace(s, bar_pos=(0,) * len(s.bar_pos), bar_len=(0,) * len(s.bar_len)) for s in parts["test"]]
        row["shared"]["no_meter"] = measure((shared.probabilities(s), s.sequence) for s in blind)
        row["shipped"]["cost"] = shipped.step_cost(longest, steps)
        row["shared"]["cost"] = shared.step_cost(longest, steps)
        row["shipped_int8"] = shipped.int8
        if style in TARGET_BITS:
            row["ppm_pitch_bits"] = ppm_pitch_bits(splits, index, parts["test"])
        figures["styles"][style] = row
        log(f"{style} in {time.perf_counter() - started:.0f} s: {json.dumps(row, default=float)[:400]}")
    return figures


def ppm_pitch_bits(splits: dict[str, list[Song]], index: int, test: list[Song]) -> float:
    """PPM LTM+STM pitch bits/note (IDyOM's defaults: :data:`training.ppm_eval.LTM`, ``STM``,
    geometric combination with bias ``BIAS``) on ``test``, the LTM trained on the training songs
    of style ``index`` (the extra collections are not in ``splits``: ``load_shared(extra=False)``)."""
    train = [s for s in splits["train"] if s.style_index == index]
    every = [s for part in splits.values() for s in part if s.style_index == index]
    used = sorted({p for s in every for p in pitches(s)})  # the alphabet of training.ppm_eval: all the style's pitches
    code = {p: i for i, p in enumerate(used)}
    train_seqs = [[code[p] for p in pitches(s)] for s in train]
    test_seqs = [[code[p] for p in pitches(s)] for s in test]
    ltm = ppm_dists(LTM, len(used), train_seqs, test_seqs)
    stm = ppm_dists(STM, len(used), None, test_seqs)
    return bits(combined(ltm, stm, BIAS), test_seqs)


def _training(meta) -> dict:
    t = meta.training
    h = t.get("history", {})
    return {
        "hidden_size": t.get("hidden_size"),
        "batch_size": t.get("batch_size"),
        "epochs": len(h.get("valid", [])),
        "best_epoch": h.get("best_epoch"),
        "valid": h.get("valid", []),
        "train": h.get("train", []),
        "stopped": h.get("stopped", "patience or max epochs"),
        "minutes": round(sum(h.get("seconds", [])) / 60, 1),
        "threads": t.get("threads"),
        "seed": t.get("seed"),
        "command": reproduce_command(t, len(h.get("valid", []))),
    }


def reproduce_command(t: dict, epochs: int) -> str:
    """The ``training.train_lstm`` command that retrains a shared model from its metadata's
    ``training`` (``epochs`` run: the same weights without the time cap), then the int8 step."""
    parts = ["python -m training.train_lstm --style shared", "--styles " + ",".join(t.get("styles", []))]
    parts += ["--bars"] if t.get("bar_inputs") else []
    parts += ["--extra"] if t.get("extra") else []
    parts += ["--repeat " + ",".join(t["repeat"])] if t.get("repeat") else []
    for key in ("hidden_size", "dropout", "batch_size", "learning_rate", "threads", "seed", "style_dim", "bar_dropout"):
        if t.get(key) is not None and (
            key not in ("style_dim", "bar_dropout") or t[key] != {"style_dim": 16}.get(key, 0)
        ):
            parts.append(f"--{key.replace('_', '-')} {t[key]:g}")
    parts.append(f"--max-epochs {epochs} --out .cache/shared")
    return (
        " ".join(parts)
        + "; python -m training.quantize --no-evaluate .cache/shared/lstm_shared.json"
        + "; cp .cache/shared/lstm_shared.{json,onnx,fp32.onnx} exported_models/"
    )


def _pct(new: float, old: float) -> str:
    return f"{100 * (new / old - 1):+.1f}%"


def _met(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def render(figures: dict, shared_json: Path) -> str:
    tr = figures["training"]
    out = [
        "## One shared model: style token + bar inputs + more German tunes (issue 12, item 2)",
        "",
        f"Generated by `{COMMAND}`; do not edit by hand. The model: `{shared_json.name}`, one LSTM for all styles "
        f"({'int8' if figures['shared_int8'] else 'float'}), inputs tokens, style (one-hot row), bar_pos, bar_len "
        "(training/bars.py), trained on every style's training songs plus the extra German EsAC collections "
        "less their near-copies of held-out songs (training/dataset.py `load_shared`); it is the shipped LSTM "
        "(`exported_models/lstm_shared`). Baseline: the per-style LSTMs it replaced "
        "(`exported_models/baseline/lstm_<style>`, int8, as they played). Songs: the baseline's own validation "
        "and test songs; figures on the test songs. + STM: the run-time mixture with the short-term model "
        "(IDyOM's entropy-weighted arithmetic rule, section ppm): *as it plays* with the runtime's prior s and "
        "bias b, and with (s, b) chosen on the validation songs per model.",
        "",
    ]
    rows = []
    for style, r in figures["styles"].items():
        a, b = r["shipped"], r["shared"]
        base = a["alone"]["nll_nats"]
        target = base * (1 - TARGET_NLL_CUT)
        playing = b["stm_as_it_plays"]
        s_play, b_play = b["as_it_plays"]
        has_target = style in TARGET_BITS
        rows.append(
            [
                style,
                str(r["songs"]["test"]),
                f"{base:.4f}",
                f"{a['stm_as_it_plays']['nll_nats']:.4f} ({_pct(a['stm_as_it_plays']['nll_nats'], base)})",
                f"{b['alone']['nll_nats']:.4f} ({_pct(b['alone']['nll_nats'], base)})",
                f"**{playing['nll_nats']:.4f} ({_pct(playing['nll_nats'], base)})**",
                f"{b['stm']['nll_nats']:.4f} ({_pct(b['stm']['nll_nats'], base)}; s {b['weight']:g}, b {b['bias']:g})",
                f"<= {target:.4f}: {_met(playing['nll_nats'] <= target)}" if has_target else "-",
                f"{b['no_meter']['nll_nats']:.4f} ({_pct(b['no_meter']['nll_nats'], base)})",
            ]
        )
    out += [
        "### NLL nats/step on the test songs (change against the baseline alone)",
        "",
        f"As it plays: s {s_play:g}, b {b_play:g} (the `stm_weight` setting's default and `TokenStm.BIAS`). "
        "Target: at least 15% below the baseline, for deutsch and han.",
        "",
    ]
    out += markdown_table(
        [
            "style",
            "test songs",
            "baseline",
            "baseline + STM, as it plays",
            "shared",
            "shared + STM, as it plays",
            "shared + STM, (s, b) chosen on validation",
            "target",
            "shared, no meter given",
        ],
        rows,
    )
    rows = []
    for style, r in figures["styles"].items():
        a, b = r["shipped"], r["shared"]
        mine = b["stm_as_it_plays"]["pitch_bits"]
        ppm = r.get("ppm_pitch_bits")
        verdict = "-"
        if style in TARGET_BITS:
            verdict = f"<= {TARGET_BITS[style]:.1f}: {_met(mine <= TARGET_BITS[style])}; below PPM: {_met(mine < ppm)}"
        rows.append(
            [
                style,
                f"{a['alone']['pitch_bits']:.3f} / {a['stm_as_it_plays']['pitch_bits']:.3f}",
                f"{b['alone']['pitch_bits']:.3f} / **{mine:.3f}**",
                "-" if ppm is None else f"{ppm:.3f}",
                verdict,
            ]
        )
    out += ["", "### Pitch bits/note on the test songs", ""]
    out += markdown_table(
        [
            "style",
            "baseline / + STM as it plays",
            "shared / + STM as it plays",
            "PPM LTM+STM (IDyOM's defaults, same songs)",
            "targets",
        ],
        rows,
    )
    out += [
        "",
        '"Shared, no meter given": the same test songs with bar_pos = bar_len = 0 at every step (alone, no STM): '
        "the model leans on the bar inputs, and few training songs lack a meter, so what it hears must carry the "
        "meter: live, the meter setting and the clock's bar lines (the metronome's); in files, the time signature.",
    ]
    out += ["", "### Step cost, onnxruntime 1 thread, batch 1 (ms; same run, same machine; target p99 <= 0.15)", ""]
    out += markdown_table(
        ["style", "baseline p50", "baseline p99", "shared p50", "shared p99"],
        [
            [
                style,
                f"{r['shipped']['cost']['p50_ms']:.4f}",
                f"{r['shipped']['cost']['p99_ms']:.4f}",
                f"{r['shared']['cost']['p50_ms']:.4f}",
                f"{r['shared']['cost']['p99_ms']:.4f}",
            ]
            for style, r in figures["styles"].items()
        ],
    )
    valid = tr["valid"]
    tail = ", ".join(f"{v:.4f}" for v in valid[-6:])
    out += [
        "",
        f"Training: hidden {tr['hidden_size']}, batch {tr['batch_size']}, seed {tr['seed']}, {tr['threads']} thread(s); "
        f"{tr['epochs']} epochs in {tr['minutes']} min, best epoch {tr['best_epoch']}; stopped: {tr['stopped']}. "
        f"Validation NLL (all styles' validation songs) of the last epochs: {tail}. "
        "Curve: [figures/lstm_shared_loss.png](figures/lstm_shared_loss.png). "
        f"Reproduce (same seed, same thread count): `{tr['command']}`.",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "model", type=Path, nargs="?", default=SHIPPED / "lstm_shared.json", help="the shared model's metadata"
    )
    parser.add_argument("--styles", nargs="*", default=None, help="default: every style of the shared model")
    parser.add_argument("--steps", type=int, default=3000, help="timed steps per model for the step cost")
    parser.add_argument("--json", type=Path, default=None, help="also save every figure as JSON here")
    parser.add_argument("--write-docs", action="store_true", help=f"write section '{SECTION}' of docs/EVALUATION.md")
    args = parser.parse_args(argv)
    figures = evaluate(args.model, args.styles, args.steps, log=lambda m: print(m, file=sys.stderr))
    figures["source_onnx"] = str(source_onnx(args.model))
    text = render(figures, args.model)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=float))
    if args.write_docs:
        write_section(DOC, SECTION, COMMAND, text)
        print(f"wrote section {SECTION} of {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
