"""Style evidence: does a classifier hear each model's continuations as its style, and how
often does it hear the style's real music so?

    python -m training.style_evidence            # updates exported_models/lstm_*.json metrics

A multi-class logistic regression (softmax; numpy, no extra dependency) on pitch-class,
interval and duration histograms learns every shipped style from windows of its training
songs. For each style and window length it then classifies, side by side:

- **real**: the held-out songs (validation and test) after their opening: steps
  ``OPENING_STEPS .. OPENING_STEPS + length`` of each held-out song long enough for it;
- **continuations of the same openings**: the style's own model continues each of those
  openings (its first ``OPENING_STEPS`` steps) for ``length`` steps, temperature 1.0;
- **continuations of fixed primers**: ``count`` continuations of each of :data:`PRIMERS`.

Real and generated windows are the same length, in the same key (C major / A minor) and
register, encoded by the same tokens, so a style's continuations cannot honestly be more
recognisable than its real music: the real column is the ceiling.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from livemelody.encoding import Vocabulary
from livemelody.encoding.bars import BarGrid
from livemelody.encoding.melody import tokens_to_notes
from livemelody.events import Note
from livemelody.generate import continue_tokens, primer_tokens
from livemelody.models.lstm import LstmSession
from livemelody.models.metadata import ModelMetadata, load_metadata
from livemelody.models.registry import find_model, load_lstm
from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN, PRIMER_GRID
from livemelody.sampling import SamplingParams
from training.dataset import Song, load_songs
from training.meters import load_bar_grids, model_grid
from training.report import shipped_styles

REPO = Path(__file__).resolve().parent.parent
DURATION_BINS = (1, 2, 3, 4, 6, 8, 12)  # steps; an 8th bin takes everything longer
FEATURES = "pitch-class, interval, duration histograms + pitch mean/spread (47)"
LENGTHS = (64, 128, 256)
"""Window lengths in 16th steps (4, 8 and 16 bars of 4/4)."""


def features(notes: Sequence[Note]) -> np.ndarray:
    """47 numbers: pitch-class (12), interval -12..+12 (25) and duration (8) histograms, each
    normalised, plus mean and spread of pitch (in octaves around middle C)."""
    pitches = np.array([n.pitch for n in notes], dtype=float)
    durations = np.array([n.duration for n in notes], dtype=float)
    pc = np.bincount(pitches.astype(int) % 12, weights=durations, minlength=12)
    intervals = np.clip(np.diff(pitches), -12, 12).astype(int) + 12
    iv = np.bincount(intervals, minlength=25) if len(intervals) else np.zeros(25)
    du = np.bincount(np.searchsorted(DURATION_BINS, durations), minlength=8)
    norm = lambda h: h / max(h.sum(), 1)  # noqa: E731
    return np.concatenate([norm(pc), norm(iv), norm(du), [(pitches.mean() - 60) / 12, pitches.std() / 12]])


class LogisticRegression:
    """Binary logistic regression, standardised inputs, L2, full-batch gradient descent."""

    def __init__(self, l2: float = 1e-3, steps: int = 3000, rate: float = 0.5):
        self.l2, self.steps, self.rate = l2, steps, rate

    def fit(self, x: np.ndarray, y: np.ndarray) -> LogisticRegression:
        self.mean, self.std = x.mean(axis=0), x.std(axis=0) + 1e-8
        z = (x - self.mean) / self.std
        self.w, self.b = np.zeros(z.shape[1]), 0.0
        for _ in range(self.steps):
            p = 1 / (1 + np.exp(-(z @ self.w + self.b)))
            self.w -= self.rate * (z.T @ (p - y) / len(y) + self.l2 * self.w)
            self.b -= self.rate * float(np.mean(p - y))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std @ self.w + self.b > 0).astype(int)


def continuations(
    session: LstmSession,
    count: int,
    steps: int,
    temperature: float,
    seed: int,
    primers: Sequence[Sequence[Note]] = (AH_VOUS_DIRAI_JE_MAMAN,),
    grid: BarGrid | None = PRIMER_GRID,
) -> list[list[Note]]:
    """``count`` continuations, each ``steps`` long, in the model's key; continuation i follows
    ``primers[i % len(primers)]`` (default: the seed's European primer), on the bar ``grid``
    of every primer (the shared model's bar inputs; None: no meter)."""
    tokens_of = [primer_tokens(primer, session)[0] for primer in primers]
    rng = np.random.default_rng(seed)
    result = []
    for i in range(count):
        primer = tokens_of[i % len(tokens_of)]
        tokens = continue_tokens(session, primer, steps, SamplingParams(temperature), rng, grid=grid)
        result.append(tokens_to_notes(tokens, session.vocab))
    return result


OPENING_STEPS = 32
"""The opening of a held-out song used as a primer: its first 2 bars of 4/4 (32 steps)."""
PRIMERS = {
    "ah_vous_dirai_je_maman": AH_VOUS_DIRAI_JE_MAMAN,
    "ah_vous_dirai_je_maman_minor": [
        Note(n.pitch - 3 if n.pitch % 12 in (4, 9, 11) else n.pitch, n.start, n.duration, n.velocity)
        for n in AH_VOUS_DIRAI_JE_MAMAN
    ],
}
"""Fixed primers beside the held-out openings: the seed's European primer, and the same tune
in C minor (E, A, B lowered), since some styles lean to minor."""


class SoftmaxRegression:
    """Multi-class logistic regression: standardised inputs, L2, class-balanced full-batch
    gradient descent (each class weighs the same in the loss, whatever its song count)."""

    def __init__(self, l2: float = 1e-3, steps: int = 3000, rate: float = 0.5):
        self.l2, self.steps, self.rate = l2, steps, rate

    def fit(self, x: np.ndarray, y: np.ndarray, classes: int) -> SoftmaxRegression:
        self.mean, self.std = x.mean(axis=0), x.std(axis=0) + 1e-8
        z = (x - self.mean) / self.std
        onehot = np.eye(classes)[y]
        weight = (1.0 / np.bincount(y, minlength=classes).clip(min=1))[y]
        weight = weight / weight.sum()
        self.w, self.b = np.zeros((z.shape[1], classes)), np.zeros(classes)
        for _ in range(self.steps):
            logits = z @ self.w + self.b
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            g = (p - onehot) * weight[:, None]
            self.w -= self.rate * (z.T @ g + self.l2 * self.w)
            self.b -= self.rate * g.sum(axis=0)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax((x - self.mean) / self.std @ self.w + self.b, axis=1)


def windows(tokens: Sequence[int], length: int, vocab: Vocabulary, start: int = 0, hop: int | None = None):
    """Notes of the windows of ``length`` steps of ``tokens`` from ``start``, every ``hop``
    steps (default: one window only); windows that do not fit are left out."""
    hop = hop or len(tokens) + 1
    return [tokens_to_notes(tokens[s : s + length], vocab) for s in range(start, len(tokens) - length + 1, hop)]


def _share(classifier: SoftmaxRegression, label: int, melodies: list[list[Note]]) -> float:
    """Share of ``melodies`` classified as ``label``; one of fewer than 2 notes counts as a miss."""
    usable = [m for m in melodies if len(m) >= 2]
    if not melodies:
        return float("nan")
    if not usable:
        return 0.0
    return float(np.sum(classifier.predict(np.array([features(m) for m in usable])) == label) / len(melodies))


def run(models_dir: Path, count: int, temperature: float, seed: int, lengths: Sequence[int] = LENGTHS) -> dict:
    """The evidence for every shipped style (see the module doc), by window length."""
    styles = shipped_styles(models_dir)
    vocab = Vocabulary()
    splits: dict[str, dict[str, list[Song]]] = {style: load_songs(style, vocab)[0] for style in styles}
    sessions = {style: load_lstm(style, [models_dir]) for style in styles}
    grids = {style: {k: model_grid(g) for k, g in load_bar_grids(style).items()} for style in styles}
    params = SamplingParams(temperature)
    result: dict = {
        "features": FEATURES,
        "classifier": "softmax regression over " + ", ".join(styles) + " (class-balanced), trained on "
        "non-overlapping windows of the training songs of the same length",
        "styles": list(styles),
        "opening_steps": OPENING_STEPS,
        "temperature": temperature,
        "count": count,
        "seed": seed,
        "primers": list(PRIMERS),
        "by_length": {},
    }
    for length in lengths:
        x, y = [], []
        for label, style in enumerate(styles):
            for song in splits[style]["train"]:
                for notes in windows(song.tokens, length, vocab, hop=length):
                    if len(notes) >= 2:
                        x.append(features(notes))
                        y.append(label)
        classifier = SoftmaxRegression().fit(np.array(x), np.array(y), len(styles))
        rows = {}
        for label, style in enumerate(styles):
            held_out = [
                s for s in splits[style]["valid"] + splits[style]["test"] if len(s.tokens) >= OPENING_STEPS + length
            ]
            real = [windows(s.tokens, length, vocab, OPENING_STEPS)[0] for s in held_out]
            rng = np.random.default_rng(seed)
            generated = [
                tokens_to_notes(
                    continue_tokens(
                        sessions[style],
                        list(s.tokens[:OPENING_STEPS]),
                        length,
                        params,
                        rng,
                        grid=grids[style].get(s.song_id),
                    ),
                    vocab,
                )
                for s in held_out
            ]
            row = {
                "train_windows": int(np.sum(np.array(y) == label)),
                "held_out_windows": len(real),
                "real_as_own_style": _share(classifier, label, real),
                "continuations_of_openings_as_own_style": _share(classifier, label, generated),
            }
            for name, primer in PRIMERS.items():
                tokens = primer_tokens(primer, sessions[style])[0]
                rng = np.random.default_rng(seed)
                melodies = [
                    tokens_to_notes(
                        continue_tokens(sessions[style], tokens, length, params, rng, grid=PRIMER_GRID), vocab
                    )
                    for _ in range(count)
                ]
                row[f"continuations_of_{name}_as_own_style"] = _share(classifier, label, melodies)
            rows[style] = row
        result["by_length"][str(length)] = rows
    return result


def against_base_styles(
    name: str,
    own: dict[str, list[Sequence[Note]]],
    base: dict[str, dict[str, list[Sequence[Note]]]],
    sessions: dict[str, LstmSession],
    count: int = 100,
    steps: int = 128,
    temperature: float = 1.0,
    seed: int = 0,
) -> dict:
    """Style evidence for a user's style ``name``: one classifier, ``name`` against the base styles.

    ``own``: the style's songs (notes, C major / A minor) by split (``train``, ``test``);
    ``base``: each base style's songs by split; ``sessions``: the LSTM of ``name`` and of each
    base style. The classifier trains on every ``train`` song (label 1: ``name``), is measured on
    the ``test`` songs, then classifies ``count`` continuations from each model, of the European
    primer and of the openings (first :data:`OPENING_STEPS` steps) of the style's held-out songs:
    the share heard as ``name`` should be high for its own model and low for the others.
    """
    x_train = np.array([features(n) for n in own["train"]] + [features(n) for b in base.values() for n in b["train"]])
    y_train = np.array([1] * len(own["train"]) + [0] * sum(len(b["train"]) for b in base.values()))
    classifier = LogisticRegression().fit(x_train, y_train)

    def heard_as_own(songs: list[Sequence[Note]]) -> float:
        usable = [s for s in songs if len(s) >= 2]
        return float(np.sum(classifier.predict(np.array([features(s) for s in usable])) == 1) / max(len(songs), 1))

    result: dict = {
        "features": "pitch-class, interval, duration histograms + pitch mean/spread (47)",
        "classifier": f"logistic regression, {name} (1) against {', '.join(base)} (0)",
        "train_songs": {name: len(own["train"]), **{style: len(b["train"]) for style, b in base.items()}},
        "continuation_steps": steps,
        "temperature": temperature,
        "count": count,
        "seed": seed,
        "test_songs": {name: len(own["test"]), **{style: len(b["test"]) for style, b in base.items()}},
        "test_accuracy": {
            name: heard_as_own(own["test"]),
            **{style: 1 - heard_as_own(b["test"]) for style, b in base.items()},
        },
        "continuations_heard_as_" + name: {
            model: heard_as_own(continuations(session, count, steps, temperature, seed))
            for model, session in sessions.items()
        },
    }
    openings = [[n for n in song if n.start < OPENING_STEPS] for song in own["test"]]
    openings = [o for o in openings if len(o) >= 2]
    if openings:
        result["opening_steps"] = OPENING_STEPS
        result["openings"] = len(openings)
        result["continuations_of_openings_heard_as_" + name] = {
            model: heard_as_own(continuations(session, count, steps, temperature, seed, openings, grid=None))
            for model, session in sessions.items()
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=REPO / "exported_models")
    parser.add_argument("--count", type=int, default=100, help="continuations of each fixed primer")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = run(args.models, args.count, args.temperature, args.seed)
    for length, rows in result["by_length"].items():
        print(f"{length} steps: style, held-out windows, real as own style, continuations of openings, of primers")
        for style, r in rows.items():
            primers = " ".join(f"{r[f'continuations_of_{p}_as_own_style']:.2f}" for p in result["primers"])
            print(
                f"  {style:<9}{r['held_out_windows']:>5}  {r['real_as_own_style']:.2f}  "
                f"{r['continuations_of_openings_as_own_style']:.2f}  {primers}"
            )
    paths = {find_model("lstm", style, [args.models])[0] for style in result["styles"]}
    for path in sorted(paths):  # stored in every model's metadata (the .onnx, and so its sha256, is untouched)
        meta = load_metadata(path)
        ModelMetadata.from_dict({**meta.to_dict(), "metrics": {**meta.metrics, "style_evidence": result}}).save(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
