"""Where an independent style classifier places blended answers between two styles.

    python -m training.blend_eval          # prints the table, writes docs/EVALUATION.md section "blend"

Continuations of several primers (the openings of held-out songs of both styles, and the
seed's European primer) are sampled at blend weights 0, 0.25, 0.5, 0.75 and 1 between style A
(deutsch) and style B (han), by each blend rule of :mod:`livemelody.blend` (the arithmetic
mixture and the geometric product). The style classifier of :mod:`training.style_evidence`
(a logistic regression on pitch-class, interval and duration histograms, trained on the
training songs of both styles: real songs, independent of the LSTMs) gives each continuation
its probability of being B. At weight 0.5 the mean should sit between the weight-0 and
weight-1 values; the *midpoint position* (P(0.5) - P(0)) / (P(1) - P(0)) says where (0.5: the
middle). The same weights, rules, primers and seeds for every row (common random numbers), so
rows differ by the blend only. For scale, the classifier's own figures on real held-out
windows of the same length (the steps after each held-out opening) are given beside.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from livemelody.blend import MIXTURE, PRODUCT, RULE, RULES, Blend
from livemelody.encoding import Vocabulary
from livemelody.encoding.melody import tokens_to_notes
from livemelody.events import Note
from livemelody.generate import continue_tokens, primer_tokens
from livemelody.models.registry import load_lstm
from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN, PRIMER_GRID
from livemelody.sampling import SamplingParams
from training.dataset import load_songs
from training.doc_sections import markdown_table, write_section
from training.meters import load_bar_grids, model_grid
from training.style_evidence import OPENING_STEPS, LogisticRegression, features

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "EVALUATION.md"
COMMAND = "python -m training.blend_eval"
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def probability(classifier: LogisticRegression, notes: Sequence[Sequence[Note]]) -> np.ndarray:
    """The classifier's probability of label 1 (style B) for each melody [n]."""
    x = np.array([features(n) for n in notes])
    return 1 / (1 + np.exp(-((x - classifier.mean) / classifier.std @ classifier.w + classifier.b)))


def openings(songs, count: int, grids: dict) -> list[tuple[list[Note], object]]:
    """The first ``count`` held-out songs' openings (notes starting in the first
    :data:`~training.style_evidence.OPENING_STEPS` steps) with at least 2 notes, each with its
    song's run-time bar grid (:func:`training.meters.model_grid`; None without a meter)."""
    result = [([n for n in s.notes if n.start < OPENING_STEPS], model_grid(grids.get(s.song_id))) for s in songs]
    return [o for o in result if len(o[0]) >= 2][:count]


def real_windows(songs, steps: int) -> list[list[Note]]:
    """What follows each held-out song's opening: its notes starting in
    [OPENING_STEPS, OPENING_STEPS + ``steps``), where at least 2."""
    result = [[n for n in s.notes if OPENING_STEPS <= n.start < OPENING_STEPS + steps] for s in songs]
    return [w for w in result if len(w) >= 2]


def run(
    models_dir: Path, styles: tuple[str, str], primers_per_style: int, per_primer: int, steps: int, seed: int
) -> dict:
    vocab = Vocabulary()
    a, b = styles
    splits = {style: load_songs(style, vocab)[0] for style in styles}
    x_train = np.array([features(s.notes) for style in styles for s in splits[style]["train"]])
    y_train = np.array([i for i, style in enumerate(styles) for _ in splits[style]["train"]])
    classifier = LogisticRegression().fit(x_train, y_train)
    sessions = {style: load_lstm(style, [models_dir]) for style in styles}
    primers = {
        "European primer": [(AH_VOUS_DIRAI_JE_MAMAN, PRIMER_GRID)],
        **{
            f"{style} openings": openings(splits[style]["test"], primers_per_style, load_bar_grids(style))
            for style in styles
        },
    }
    params = SamplingParams(1.0)
    result: dict = {
        "styles": list(styles),
        "classifier": "logistic regression on pitch-class, interval, duration histograms + pitch mean/spread (47), "
        f"trained on the training songs of {a} (0) and {b} (1)",
        "steps": steps,
        "temperature": params.temperature,
        "seed": seed,
        "primers": {name: len(p) for name, p in primers.items()},
        "per_primer": per_primer,
        "runtime_rule": RULE,
        "real": {},
        "blend": {},
    }
    for style in styles:
        test = [s.notes for s in splits[style]["test"]]
        windows = real_windows(splits[style]["test"], steps)
        p_songs, p_windows = probability(classifier, test), probability(classifier, windows)
        result["real"][style] = {
            "songs": len(test),
            "songs_as_b": float(np.mean(p_songs > 0.5)),
            "songs_p_b": float(np.mean(p_songs)),
            "windows": len(windows),
            "windows_as_b": float(np.mean(p_windows > 0.5)),
            "windows_p_b": float(np.mean(p_windows)),
        }
    tokens_of = {  # (tokens, their bar grid, the first token's step)
        name: [(primer_tokens(p, sessions[a])[0], grid, min(n.start for n in p)) for p, grid in ps]
        for name, ps in primers.items()
    }
    origin = [name for name, token_lists in tokens_of.items() for _ in token_lists for _ in range(per_primer)]
    p_all: dict[str, np.ndarray] = {}  # rule -> [weight, continuation]: P(B), NaN for under 2 notes
    for rule in RULES:
        rows = {}
        p_all[rule] = np.full((len(WEIGHTS), len(origin)), np.nan)
        for w_index, weight in enumerate(WEIGHTS):
            rng = np.random.default_rng(seed)
            blend = Blend(sessions[b], weight, rule)
            generated = [
                tokens_to_notes(
                    continue_tokens(sessions[a], tokens, steps, params, rng, blend=blend, grid=grid, start=start), vocab
                )
                for token_lists in tokens_of.values()
                for tokens, grid, start in token_lists
                for _ in range(per_primer)
            ]
            usable = [i for i, g in enumerate(generated) if len(g) >= 2]
            p_all[rule][w_index, usable] = probability(classifier, [generated[i] for i in usable])
            p = p_all[rule][w_index]
            kept = p[~np.isnan(p)]
            rows[f"{weight:g}"] = {
                "count": len(generated),
                "usable": len(kept),
                "as_b": float(np.mean(kept > 0.5)),
                "p_b": float(np.mean(kept)),
                "p_b_sem": float(np.std(kept, ddof=1) / np.sqrt(len(kept))),
                "p_b_by_primer": {name: float(np.nanmean(p[[o == name for o in origin]])) for name in tokens_of},
            }
        rows["positions"] = {f"{w:g}": float(x) for w, x in zip(WEIGHTS, positions(p_all[rule][None])[0])}
        result["blend"][rule] = rows
    result["bootstrap"] = bootstrap(p_all, seed)
    return result


def positions(p: np.ndarray) -> np.ndarray:
    """Where each weight's mean P(B) sits between weight 0's and weight 1's: (P(w) - P(0)) /
    (P(1) - P(0)), for ``p`` [resample, weight, continuation] -> [resample, weight]."""
    mean = np.nanmean(p, axis=-1)
    return (mean - mean[:, :1]) / (mean[:, -1:] - mean[:, :1])


def evenness(position: np.ndarray) -> np.ndarray:
    """Mean |position(w) - w| over the inner weights [resample]: 0 when the classifier's
    probability moves in proportion to the knob."""
    inner = np.array(WEIGHTS[1:-1])
    return np.abs(position[:, 1:-1] - inner).mean(axis=-1)


BOOTSTRAP = 2000


def bootstrap(p_all: dict[str, np.ndarray], seed: int) -> dict:
    """95% intervals (percentile bootstrap over continuations, :data:`BOOTSTRAP` resamples; the
    same continuations drawn for every weight and rule, as they share primers and seeds) of each
    rule's midpoint position and evenness, and of the differences between the rules."""
    rng = np.random.default_rng(seed)
    count = next(iter(p_all.values())).shape[1]
    picks = rng.integers(0, count, size=(BOOTSTRAP, count))
    midpoint, even = {}, {}
    for rule, p in p_all.items():
        pos = positions(p[:, picks].transpose(1, 0, 2))
        midpoint[rule], even[rule] = np.abs(pos[:, WEIGHTS.index(0.5)] - 0.5), evenness(pos)
        midpoint[rule + "_position"] = pos[:, WEIGHTS.index(0.5)]
    interval = lambda x: [float(np.percentile(x, 2.5)), float(np.percentile(x, 97.5))]  # noqa: E731
    result = {"resamples": BOOTSTRAP}
    for rule in p_all:
        result[rule] = {"midpoint_position": interval(midpoint[rule + "_position"]), "evenness": interval(even[rule])}
    if set(p_all) == {MIXTURE, PRODUCT}:
        result["midpoint_distance_mixture_minus_product"] = interval(midpoint[MIXTURE] - midpoint[PRODUCT])
        result["evenness_mixture_minus_product"] = interval(even[MIXTURE] - even[PRODUCT])
    return result


def render(result: dict) -> str:
    a, b = result["styles"]
    out = [
        "## Style blend",
        "",
        f"Continuations of {result['steps']} steps ({result['steps'] // 16} bars of 4/4) at temperature "
        f"{result['temperature']:g}, {result['per_primer']} per primer, from "
        + ", ".join(f"{n} {name}" for name, n in result["primers"].items())
        + f" (openings: the notes of a held-out song's first {OPENING_STEPS} steps), seed {result['seed']}, "
        f"blended between {a} (weight 0) and {b} (weight 1) by each rule of `livemelody.blend`: "
        "*mixture* p = (1 - w) p_A + w p_B, *product* p proportional to p_A^(1-w) p_B^w. "
        f"Classifier: {result['classifier']}; independent of the LSTMs. "
        f"Share as {b}: the share of continuations it classifies as {b}; P({b}): its mean probability "
        "(± standard error).",
        "",
        f"The classifier on real held-out music, for scale (windows: the {result['steps']} steps after each "
        "held-out opening, as long as the continuations):",
        "",
    ]
    rows = []
    for style, r in result["real"].items():
        rows.append([f"{style} held-out songs", str(r["songs"]), f"{r['songs_as_b']:.2f}", f"{r['songs_p_b']:.3f}"])
        rows.append(
            [f"{style} held-out windows", str(r["windows"]), f"{r['windows_as_b']:.2f}", f"{r['windows_p_b']:.3f}"]
        )
    out += markdown_table(["real music", "count", f"share as {b}", f"P({b})"], rows)
    primer_names = list(result["primers"])
    out += [""]
    rows = []
    for rule, by_weight in result["blend"].items():
        for weight in WEIGHTS:
            r = by_weight[f"{weight:g}"]
            rows.append(
                [rule, f"{weight:g}", str(r["count"]), f"{r['as_b']:.2f}", f"{r['p_b']:.3f} ± {r['p_b_sem']:.3f}"]
                + [f"{by_weight['positions'][f'{weight:g}']:.2f}"]
                + [f"{r['p_b_by_primer'][name]:.3f}" for name in primer_names]
            )
    out += markdown_table(
        ["rule", "blend", "continuations", f"share as {b}", f"P({b})", "position"]
        + [f"P({b}), {n}" for n in primer_names],
        rows,
    )
    boot = result["bootstrap"]
    span = lambda x: f"{x[0]:.2f} to {x[1]:.2f}"  # noqa: E731
    out += [
        "",
        "Position: (P(w) - P(0)) / (P(1) - P(0)), where the weight's answers sit between the two styles' "
        "(0.5 at the midpoint is halfway; a position equal to the weight is a knob that moves the classifier "
        "in proportion). Evenness: the mean |position - weight| over weights 0.25, 0.5, 0.75 (0 = proportional). "
        f"95% intervals, bootstrap over continuations ({boot['resamples']} resamples):",
        "",
    ]
    rules = [rule for rule in result["blend"]]
    out += markdown_table(
        ["rule", "midpoint position", "midpoint position, 95% interval", "evenness", "evenness, 95% interval"],
        [
            [
                rule,
                f"{result['blend'][rule]['positions']['0.5']:.2f}",
                span(boot[rule]["midpoint_position"]),
                f"{np.mean([abs(result['blend'][rule]['positions'][f'{w:g}'] - w) for w in WEIGHTS[1:-1]]):.3f}",
                span(boot[rule]["evenness"]),
            ]
            for rule in rules
        ],
    )
    if "midpoint_distance_mixture_minus_product" in boot:
        mid, even = boot["midpoint_distance_mixture_minus_product"], boot["evenness_mixture_minus_product"]

        def verdict(interval):
            if interval[0] > 0:
                return f"product's is smaller (mixture minus product: {span(interval)})"
            if interval[1] < 0:
                return f"mixture's is smaller (mixture minus product: {span(interval)})"
            return f"no measurable difference between the rules (mixture minus product: {span(interval)})"

        out += [
            "",
            f"Distance of the midpoint's position from 0.5: {verdict(mid)}. Evenness: {verdict(even)}. "
            f"The runtime uses {result['runtime_rule']} (`livemelody.blend.RULE`).",
        ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=REPO / "exported_models")
    parser.add_argument("--styles", nargs=2, default=("deutsch", "han"), metavar=("A", "B"))
    parser.add_argument("--primers", type=int, default=20, help="held-out openings per style (default 20)")
    parser.add_argument("--per-primer", type=int, default=10, help="continuations per primer (default 10)")
    parser.add_argument("--steps", type=int, default=128, help="continuation length in 16th steps (default 8 bars)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-docs", action="store_true", help=f"print only; leave {DOC.relative_to(REPO)} alone")
    args = parser.parse_args(argv)
    result = run(args.models, tuple(args.styles), args.primers, args.per_primer, args.steps, args.seed)
    body = render(result)
    print(body)
    if not args.no_docs:
        write_section(DOC, "blend", COMMAND, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
