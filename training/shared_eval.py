"""The shared model (one LSTM, style + bar inputs) against the shipped per-style LSTMs, on the
shipped models' own test songs, with and without the short-term model; step cost at 1 thread.

    python -m training.shared_eval .cache/shared/lstm_shared.json              # print
    python -m training.shared_eval .cache/shared/lstm_shared.json --write-docs # + docs/EVALUATION.md

For each style: the shipped model ``exported_models/lstm_<style>.json`` (its int8 graph, as it
plays) and the shared model (its int8 graph: run ``python -m training.quantize`` on it first;
the float graph is used, and said, when it is not quantized), scored by :mod:`training.metrics`
on the shipped model's ``data.test_ids`` (the shared model's metadata must name the same test
songs). "+STM": the run-time mixture of :class:`livemelody.ppm.TokenStm`, IDyOM's
entropy-weighted arithmetic combination with the STM's prior s and bias b, (s, b) chosen per
model and style on the validation songs over the grid :mod:`training.ppm_eval` uses
(:func:`training.ppm_eval.mixture_grid`, :func:`training.ppm_eval.best_mixture`). The shared model gets each song's style as a one-hot
``style`` row and its bar inputs from the score's time signatures (:mod:`training.bars`).

Step cost: one token at batch 1 with the state fed back, onnxruntime on 1 thread, p50 and p99
of ``--steps`` timed calls after 200 untimed ones (a timing on a shared machine: read it beside
the shipped model's, measured in the same run).
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
    TARGET_BITS,
    TARGET_NLL_CUT,
    best_mixture,
    measure,
    mixed,
    mixture_grid,
    token_stm_probs,
)
from training.quantize import _session, source_onnx

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "EVALUATION.md"
SECTION = "shared"
COMMAND = "python -m training.shared_eval <lstm_shared.json> --write-docs"


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
    return {
        "alone": measure(zip(probs["test"], seqs["test"])),
        "stm": measure(zip(mixed(probs["test"], stm["test"], weight, bias), seqs["test"])),
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
        shipped = Scorer(REPO / "exported_models" / f"lstm_{style}.json")
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
        figures["styles"][style] = row
        log(f"{style} in {time.perf_counter() - started:.0f} s: {json.dumps(row, default=float)[:400]}")
    return figures


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
    return " ".join(parts) + "; python -m training.quantize --no-evaluate .cache/shared/lstm_shared.json"


def _pct(new: float, old: float) -> str:
    return f"{100 * (new / old - 1):+.1f}%"


def render(figures: dict, shared_json: Path) -> str:
    tr = figures["training"]
    out = [
        "## One shared model: style token + bar inputs + more German tunes (issue 12, item 2)",
        "",
        f"Generated by `{COMMAND}`; do not edit by hand. Songs: each shipped LSTM's own validation and test "
        "songs; figures on the test songs; + STM: the run-time mixture (IDyOM's entropy-weighted arithmetic rule, "
        "section ppm), its prior s and bias b chosen on the validation songs per model. "
        "Shipped: `exported_models/lstm_<style>` (int8, as it plays). Shared: one LSTM for all styles "
        f"({'int8' if figures['shared_int8'] else 'float'}), inputs tokens, style (one-hot row), bar_pos, bar_len "
        "(training/bars.py), trained on every style's training songs plus the extra German EsAC collections "
        "less their near-copies of held-out songs (training/dataset.py `load_shared`). Not shipped: "
        "`exported_models/` still holds the per-style models.",
        "",
    ]
    rows = []
    for style, r in figures["styles"].items():
        a, b = r["shipped"], r["shared"]
        nll_target = f"<= {a['alone']['nll_nats'] * (1 - TARGET_NLL_CUT):.4f}" if style in TARGET_BITS else "-"
        bits_target = f"<= {TARGET_BITS[style]:.1f}" if style in TARGET_BITS else "-"
        rows.append(
            [
                style,
                str(r["songs"]["test"]),
                f"{a['alone']['nll_nats']:.4f}",
                f"{a['stm']['nll_nats']:.4f} ({_pct(a['stm']['nll_nats'], a['alone']['nll_nats'])}, s {a['weight']:g}, b {a['bias']:g})",
                f"{b['alone']['nll_nats']:.4f} ({_pct(b['alone']['nll_nats'], a['alone']['nll_nats'])})",
                f"{b['stm']['nll_nats']:.4f} ({_pct(b['stm']['nll_nats'], a['alone']['nll_nats'])}, s {b['weight']:g}, b {b['bias']:g})",
                nll_target,
                f"{b['no_meter']['nll_nats']:.4f} ({_pct(b['no_meter']['nll_nats'], a['alone']['nll_nats'])})",
                f"{a['alone']['pitch_bits']:.3f} / {a['stm']['pitch_bits']:.3f}",
                f"{b['alone']['pitch_bits']:.3f} / {b['stm']['pitch_bits']:.3f}",
                bits_target,
            ]
        )
    out += ["### NLL nats/step and pitch bits/note on the test songs (change against the shipped model alone)", ""]
    out += markdown_table(
        [
            "style",
            "test songs",
            "shipped",
            "shipped + STM",
            "shared",
            "shared + STM",
            "NLL target",
            "shared, no meter given",
            "pitch bits shipped / + STM",
            "pitch bits shared / + STM",
            "pitch target",
        ],
        rows,
    )
    out += [
        "",
        '"Shared, no meter given": the same test songs with bar_pos = bar_len = 0 at every step (alone, no STM): '
        "the model leans on the bar inputs, and few training songs lack a meter, so a player without a meter "
        "(or with its bar lines misplaced) gets a weaker model than the shipped one.",
    ]
    out += ["", "### Step cost, onnxruntime 1 thread, batch 1 (ms; same run, same machine)", ""]
    out += markdown_table(
        ["style", "shipped p50", "shipped p99", "shared p50", "shared p99"],
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
        "To play it the runtime needs (not done yet): `LstmSession` to accept the graph's inputs "
        "(tokens, style, bar_pos, bar_len, h, c; metadata `inputs`); every step the style row (one-hot, or blend "
        "weights summing to 1) and the predicted step's position in its bar and the bar's length in 16th steps: "
        "live from the clock's step count within the bar and the meter setting, for a file from its time "
        "signatures with a pickup counted from its bar's end (training/bars.py); 0 and 0 when no meter is known.",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="the shared model's metadata (lstm_shared.json)")
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
