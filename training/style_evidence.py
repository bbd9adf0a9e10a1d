"""Style evidence: does a simple classifier hear each model's continuations as its style?

    python -m training.style_evidence            # updates exported_models/*.json metrics

A logistic regression on pitch-class, interval and duration histograms (numpy, no extra
dependency) is trained on the training songs of both styles, measured on their held-out test
songs, then asked to classify continuations that each shipped model generates from the seed's
European primer ("Ah vous dirai-je maman") at temperature 1.0. Everything happens in the
models' key (C major / A minor), where both the songs and the continuations live.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from livemelody.encoding import Vocabulary
from livemelody.encoding.melody import tokens_to_notes
from livemelody.events import Note
from livemelody.generate import continue_tokens, primer_tokens
from livemelody.models.lstm import LstmSession
from livemelody.models.metadata import ModelMetadata, load_metadata
from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN
from livemelody.sampling import SamplingParams
from training.dataset import load_songs

REPO = Path(__file__).resolve().parent.parent
STYLES = ("deutsch", "han")
DURATION_BINS = (1, 2, 3, 4, 6, 8, 12)  # steps; an 8th bin takes everything longer


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
) -> list[list[Note]]:
    """``count`` continuations, each ``steps`` long, in the model's key; continuation i follows
    ``primers[i % len(primers)]`` (default: the seed's European primer)."""
    tokens_of = [primer_tokens(primer, session)[0] for primer in primers]
    rng = np.random.default_rng(seed)
    result = []
    for i in range(count):
        tokens = continue_tokens(session, tokens_of[i % len(tokens_of)], steps, SamplingParams(temperature), rng)
        result.append(tokens_to_notes(tokens, session.vocab))
    return result


OPENING_STEPS = 32
"""The opening of a held-out song used as a primer: its notes starting in the first 2 bars of 4/4."""


def run(models_dir: Path, count: int, steps: int, temperature: float, seed: int) -> dict:
    vocab = Vocabulary()
    splits = {style: load_songs(style, vocab)[0] for style in STYLES}
    x_train = np.array([features(s.notes) for style in STYLES for s in splits[style]["train"]])
    y_train = np.array([i for i, style in enumerate(STYLES) for _ in splits[style]["train"]])
    classifier = LogisticRegression().fit(x_train, y_train)
    result = {
        "features": "pitch-class, interval, duration histograms + pitch mean/spread (47)",
        "continuation_steps": steps,
        "temperature": temperature,
        "count": count,
        "seed": seed,
    }
    sessions = {style: LstmSession(models_dir / f"lstm_{style}.json") for style in STYLES}

    def own_style_share(label: int, style: str, length: int) -> float:
        generated = continuations(sessions[style], count, length, temperature, seed)
        usable = [g for g in generated if len(g) >= 2]  # a lone note has no interval: counted as a miss
        predicted = classifier.predict(np.array([features(g) for g in usable]))
        return float(np.sum(predicted == label) / count)

    for label, style in enumerate(STYLES):
        test = np.array([features(s.notes) for s in splits[style]["test"]])
        result[style] = {
            "test_songs": len(test),
            "test_accuracy": float(np.mean(classifier.predict(test) == label)),
            "continuations": count,
            "continuations_as_own_style": own_style_share(label, style, steps),
        }
    result["by_length"] = {
        str(length): {style: own_style_share(label, style, length) for label, style in enumerate(STYLES)}
        for length in (64, 128, 256)
    }
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
            model: heard_as_own(continuations(session, count, steps, temperature, seed, openings))
            for model, session in sessions.items()
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=REPO / "exported_models")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--steps", type=int, default=128, help="continuation length in 16th steps (default 8 bars)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = run(args.models, args.count, args.steps, args.temperature, args.seed)
    print(f"{'style':<9}{'held-out songs':>16}{'accuracy':>10}{'continuations as own style':>28}")
    for style in STYLES:
        r = result[style]
        print(f"{style:<9}{r['test_songs']:>16}{r['test_accuracy']:>10.3f}{r['continuations_as_own_style']:>28.2f}")
    for style in STYLES:  # store in both models' metadata (the .onnx, and so its sha256, is untouched)
        path = args.models / f"lstm_{style}.json"
        meta = load_metadata(path)
        ModelMetadata.from_dict({**meta.to_dict(), "metrics": {**meta.metrics, "style_evidence": result}}).save(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
