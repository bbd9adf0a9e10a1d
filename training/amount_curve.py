"""How far a variation strays from its phrase, against the noise scale and the variation amount.

    python -m training.amount_curve          # writes its section of docs/EVALUATION.md

For every shipped style, the held-out test phrases (the VAE's own: :func:`training.phrases.load_phrases`)
go through the shipped ONNX VAE as the runtime varies a call (:func:`livemelody.variation.perturb`):
z = mean + s * sigma * eps, decoded, cut to the phrase's length, ``DRAWS`` draws per phrase.
Changed: the edit distance in events (a note or rest inserted, deleted or changed in pitch or
duration) to the input phrase, per event of the phrase. First against raw noise scales s (what
:data:`livemelody.variation.AMOUNT_CURVE` is fitted to), then against the knob's amounts
through :func:`livemelody.variation.noise_scale` (what a player turns).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from livemelody.models.vae import VaeSession
from livemelody.variation import AMOUNT_CURVE, noise_scale, perturb
from training.doc_sections import markdown_table, write_section
from training.phrases import Phrases, load_phrases
from training.report import shipped_styles
from training.vae_metrics import edit_distance, phrase_events

REPO = Path(__file__).resolve().parent.parent
SCALES = (0.0, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0)
AMOUNTS = tuple(round(0.1 * i, 1) for i in range(11))
DRAWS = 4
SECTION = "variation-amount"
COMMAND = "python -m training.amount_curve"


def changed_share(session: VaeSession, phrases: Phrases, scale: float, draws: int, seed: int) -> float:
    """Mean edit distance per event between each phrase and its variations at noise scale ``scale``."""
    rng = np.random.default_rng(seed)
    mean, sigma = session.encode(phrases.pitches, phrases.durations)
    originals = phrase_events(phrases.pitches, phrases.durations, phrases.lengths)
    shares = []
    for _ in range(draws):
        z = np.concatenate([perturb(m, s, scale, 1, rng) for m, s in zip(mean, sigma)])
        varied = phrase_events(*session.decode(z), phrases.lengths)
        shares += [edit_distance(a, b) / len(a) for a, b in zip(originals, varied)]
    return float(np.mean(shares))


def measure(models_dir: Path, draws: int = DRAWS, seed: int = 0) -> dict:
    """{style: {"phrases": n, "by_scale": {s: share}, "by_amount": {amount: share}}} for every shipped style."""
    result = {}
    for style in shipped_styles(models_dir):
        session = VaeSession(models_dir / f"vae_{style}_encoder.json", models_dir / f"vae_{style}_decoder.json")
        test = load_phrases(style, train_hop=1 << 30)[0]["test"]
        result[style] = {
            "phrases": len(test),
            "by_scale": {s: changed_share(session, test, s, draws, seed) for s in SCALES},
            "by_amount": {a: changed_share(session, test, noise_scale(a), draws, seed) for a in AMOUNTS},
        }
        print(style, {a: round(v, 3) for a, v in result[style]["by_amount"].items()}, flush=True)
    return result


TOP_SHARE = 0.6
"""Share of events changed the knob's top (amount 1) aims at: "very different", yet a variation."""
KNOTS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)


def fitted_curve(result: dict, top: float = TOP_SHARE) -> tuple[tuple[float, float], ...]:
    """(amount, noise scale) knots that make the mean share changed over the styles rise linearly
    from its value at s = 0 (amount 0) to ``top`` (amount 1): the inverse of the measured mean
    share-against-s curve, interpolated; what :data:`livemelody.variation.AMOUNT_CURVE` holds."""
    scales = np.array(SCALES)
    means = np.mean([[result[s]["by_scale"][x] for x in SCALES] for s in result], axis=0)
    means = np.maximum.accumulate(means)  # np.interp needs a rising curve
    knots = []
    for amount in KNOTS:
        target = means[0] + amount * (top - means[0])
        knots.append((amount, 0.0 if amount == 0 else round(float(np.interp(target, means, scales)), 2)))
    return tuple(knots)


def render(result: dict, draws: int) -> str:
    styles = list(result)

    def table(key: str, label: str, values, scale_of=None) -> list[str]:
        header = [label] + (["noise scale s"] if scale_of else []) + styles + ["mean"]
        rows = []
        for v in values:
            shares = [result[s][key][v] for s in styles]
            cells = [f"{v:g}"] + ([f"{scale_of(v):.2f}"] if scale_of else [])
            rows.append(cells + [f"{100 * x:.1f}%" for x in shares] + [f"{100 * np.mean(shares):.1f}%"])
        return markdown_table(header, rows)

    means = [np.mean([result[s]["by_amount"][a] for s in styles]) for a in AMOUNTS]
    steps = np.diff(means)
    counts = ", ".join(f"{s} {result[s]['phrases']}" for s in styles)
    out = [
        "## Vary mode: the variation amount",
        "",
        f"Held-out test phrases of every style ({counts}), "
        f"{draws} draws each, through the shipped ONNX VAEs as the runtime varies a call: z = mean + s * sigma * eps. "
        "Changed: edit distance in events (a note or rest inserted, deleted or changed in pitch or duration) "
        "to the input phrase, per event. At s = 0 it is the reconstruction error.",
        "",
        "Against the raw noise scale s (the knob's former meaning, `amount` 0-6 before):",
        "",
        *table("by_scale", "s", SCALES),
        "",
        "Against the variation amount (the knob, 0-1; s = `noise_scale(amount)`, piecewise linear through "
        + ", ".join(f"({a:g}, {s:g})" for a, s in AMOUNT_CURVE)
        + ", `livemelody/variation.py`):",
        "",
        *table("by_amount", "amount", AMOUNTS, noise_scale),
        "",
        f"Knots fitted to the s table above for a mean rising linearly to {TOP_SHARE:.0%} at amount 1 "
        f"(`fitted_curve`): {', '.join(f'({a:g}, {x:g})' for a, x in fitted_curve(result))}. "
        f"Each 0.1 of the amount adds {100 * steps.min():.1f} to {100 * steps.max():.1f} points of changed events "
        f"(mean over styles), from {100 * means[0]:.1f}% at 0 to {100 * means[-1]:.1f}% at 1.",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=REPO / "exported_models")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "EVALUATION.md")
    parser.add_argument("--draws", type=int, default=DRAWS)
    args = parser.parse_args(argv)
    result = measure(args.models, args.draws)
    print(f"knots fitted to these figures (for livemelody.variation.AMOUNT_CURVE): {fitted_curve(result)}")
    write_section(args.out, SECTION, COMMAND, render(result, args.draws))
    print(f"wrote section {SECTION} of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
