"""Train one style's melody LSTM, evaluate it against baselines, export it to ONNX.

    python -m training.train_lstm --style deutsch            # the shipped model
    python -m training.train_lstm --style han --tunes 20 --max-epochs 1 --out /tmp/m   # smoke run
    python -m training.train_lstm --style shared --styles deutsch,han,irish,scottish,chorale \
        --bars --extra --hidden-size 384 --out .cache/shared     # one model, style + bar inputs

Seeded and single-threaded by default, so the same command reproduces the same model (to
float rounding). Prints the parameter count against the seed's formula, one line per epoch,
then the held-out table; writes ``<out>/lstm_<style>.onnx`` + ``.json`` and a loss-curve PNG.
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from livemelody.encoding import Vocabulary
from training.baselines import NgramModel, UniformModel
from training.corpus import STYLE_SOURCES, describe
from training.dataset import Song, duplicate_report, load_songs, split_rule
from training.export import export_lstm
from training.lstm import MelodyLSTM, expected_parameter_count, parameter_count, seed_parameter_count
from training.metrics import MetricAccumulator

REPO = Path(__file__).resolve().parent.parent
IGNORE = -100
NGRAM_ORDERS = range(2, 9)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines the trained weights (stored in the model metadata)."""

    style: str
    hidden_size: int = 256
    dropout: float = 0.3
    """Chosen on validation NLL: 0.3 gave 0.8157 (deutsch) and 1.0523 (han), 0.2 gave 0.8179 and
    1.0606, 0.5 gave 1.0580 (han)."""
    batch_size: int = 8
    learning_rate: float = 2e-3
    grad_clip: float = 1.0
    max_epochs: int = 60
    patience: int = 6
    """Stop after this many epochs without a validation gain."""
    lr_patience: int = 2
    """Halve the learning rate after this many epochs without a validation gain."""
    seed: int = 0
    threads: int = 1
    tunes: int | None = None
    """Parse only the first tunes of each ABC file (smoke tests); None = the whole corpus."""
    max_minutes: float | None = None
    """Stop after the first epoch that ends past this many minutes of training (None: no cap).
    Nothing else depends on it (the learning rate halves on plateaus), so ``--max-epochs`` set
    to the epochs run (``history``) reproduces the same weights on any machine."""
    styles: tuple[str, ...] = ()
    """The shared model's styles (``style`` is then ``"shared"``): one model for all, with a
    style input (index = order here); each style keeps its own split (the shipped models')."""
    style_dim: int = 16
    bar_inputs: bool = False
    """Feed each step's position in its bar and the bar's length (:mod:`training.bars`)."""
    extra: bool = False
    repeat: tuple[str, ...] = ()
    bar_dropout: float = 0.0
    """Share of training songs, drawn anew each epoch, whose bar inputs are zeroed ("no meter"),
    so that the model also works without a meter (0 in run 1 and 2 of the shared model)."""
    """``style:n`` entries: the shared model sees that style's training songs n times an epoch."""
    """Add the training-only collections (:data:`training.dataset.EXTRA_FOR`) to training."""


def set_seeds(seed: int, threads: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)


def conditions(songs: list[Song], length: int, styles: int, bar_inputs: bool) -> tuple:
    """The extra inputs of a conditioned model for a padded batch of ``songs``: (style float32
    [rows, styles] one-hot, bar_pos, bar_len int64 [rows, length]); () for the plain model."""
    if not styles and not bar_inputs:
        return ()
    style = torch.zeros((len(songs), styles))
    bar_pos = torch.zeros((len(songs), length), dtype=torch.int64)
    bar_len = torch.zeros((len(songs), length), dtype=torch.int64)
    for row, song in enumerate(songs):
        style[row, song.style_index] = 1.0
        n = len(song.bar_pos)
        bar_pos[row, :n] = torch.tensor(song.bar_pos)
        bar_len[row, :n] = torch.tensor(song.bar_len)
    return style, bar_pos, bar_len


def make_batches(
    songs: list[Song],
    batch_size: int,
    rng: random.Random | None,
    styles: int = 0,
    bar_inputs: bool = False,
    bar_dropout: float = 0.0,
) -> list[tuple]:
    """Length-sorted batches of (inputs, targets, *conditions), padded; shuffled if ``rng`` is
    given. Conditions (:func:`conditions`) for a model with ``styles`` or ``bar_inputs``;
    ``bar_dropout`` (with ``rng``): that share of songs, drawn by ``rng``, get zero bar inputs."""
    if bar_dropout and rng is not None:
        songs = [
            replace(s, bar_pos=(0,) * len(s.bar_pos), bar_len=(0,) * len(s.bar_len))
            if rng.random() < bar_dropout
            else s
            for s in songs
        ]
    ordered = sorted(songs, key=lambda s: len(s.tokens))
    if rng is not None:  # shuffle within similar lengths, then the batch order
        ordered = sorted(ordered, key=lambda s: (len(s.tokens) // 16, rng.random()))
    batches = []
    for i in range(0, len(ordered), batch_size):
        chunk = ordered[i : i + batch_size]
        group = [s.sequence for s in chunk]
        length = max(len(seq) for seq in group) - 1
        inputs = torch.zeros((len(group), length), dtype=torch.int64)
        targets = torch.full((len(group), length), IGNORE, dtype=torch.int64)
        for row, seq in enumerate(group):
            inputs[row, : len(seq) - 1] = torch.tensor(seq[:-1])
            targets[row, : len(seq) - 1] = torch.tensor(seq[1:])
        batches.append((inputs, targets, *conditions(chunk, length, styles, bar_inputs)))
    if rng is not None:
        rng.shuffle(batches)
    return batches


def mean_loss(model: MelodyLSTM, batches, loss_fn) -> float:
    """Mean per-token cross-entropy (nats) over padded batches, in eval mode."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for inputs, targets, *extra in batches:
            logits, _, _ = model(inputs, *model.zero_state(inputs.shape[0]), *extra)
            total += float(loss_fn(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)))
            count += int((targets != IGNORE).sum())
    return total / count


def train(config: TrainConfig, splits: dict[str, list[Song]], vocab: Vocabulary, checkpoint: Path | None = None):
    """Adam with early stopping on validation loss; returns (best model, history).

    ``checkpoint``: a file the best weights so far are saved to (with the config and history)."""
    set_seeds(config.seed, config.threads)
    styles = len(config.styles)
    model = MelodyLSTM(vocab.size, config.hidden_size, config.dropout, styles, config.style_dim, config.bar_inputs)
    got, want = parameter_count(model), expected_parameter_count(vocab.size, config.hidden_size)
    if model.styles or model.bar_inputs:
        print(f"parameters: {got:,} (the seed's model of this size: {want:,}; the rest: style and bar inputs)")
    else:
        print(
            f"parameters: {got:,} (seed's Keras formula 4*(H*(V+H)+H) + H*V+V = "
            f"{seed_parameter_count(vocab.size, config.hidden_size):,}, plus PyTorch's second LSTM "
            f"bias 4*H = {4 * config.hidden_size:,}; V={vocab.size}, H={config.hidden_size})"
        )
        if got != want:
            raise SystemExit(f"parameter count {got} differs from the formula's {want}")
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=config.lr_patience)
    loss_sum = nn.CrossEntropyLoss(ignore_index=IGNORE, reduction="sum")
    loss_mean = nn.CrossEntropyLoss(ignore_index=IGNORE)
    valid_batches = make_batches(splits["valid"], 64, None, styles, config.bar_inputs)
    shuffler = random.Random(config.seed)
    history: dict = {"train": [], "valid": [], "seconds": [], "learning_rate": []}
    best_state, best_valid, best_epoch = None, math.inf, 0
    for epoch in range(1, config.max_epochs + 1):
        started = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        for inputs, targets, *extra in make_batches(
            splits["train"], config.batch_size, shuffler, styles, config.bar_inputs, config.bar_dropout
        ):
            logits, _, _ = model(inputs, *model.zero_state(inputs.shape[0]), *extra)
            loss = loss_mean(logits.reshape(-1, vocab.size), targets.reshape(-1))
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimiser.step()
            n = int((targets != IGNORE).sum())
            total, count = total + loss.item() * n, count + n
        valid = mean_loss(model, valid_batches, loss_sum)
        history["train"].append(total / count)
        history["valid"].append(valid)
        history["seconds"].append(time.perf_counter() - started)
        history["learning_rate"].append(optimiser.param_groups[0]["lr"])
        scheduler.step(valid)
        print(
            f"epoch {epoch:3d}  train {total / count:.4f}  valid {valid:.4f} nats/step  "
            f"lr {history['learning_rate'][-1]:.0e}  ({history['seconds'][-1]:.0f} s)",
            flush=True,
        )
        if valid < best_valid - 1e-4:
            best_state, best_valid, best_epoch = copy.deepcopy(model.state_dict()), valid, epoch
            if checkpoint is not None:  # the best weights so far, for a look before training ends
                checkpoint.parent.mkdir(parents=True, exist_ok=True)
                torch.save({"config": asdict(config), "state": best_state, "history": history}, checkpoint)
        elif epoch - best_epoch >= config.patience:
            print(f"early stop: no validation gain for {config.patience} epochs; best epoch {best_epoch}")
            history["stopped"] = "patience"
            break
        if config.max_minutes is not None and sum(history["seconds"]) > 60 * config.max_minutes:
            print(f"time cap: {config.max_minutes:g} minutes reached after epoch {epoch}; best epoch {best_epoch}")
            history["stopped"] = f"time cap after epoch {epoch} (reproduce with --max-epochs {epoch})"
            break
    model.load_state_dict(best_state)
    model.eval()
    history["best_epoch"] = best_epoch
    return model, history


def lstm_probabilities(model: MelodyLSTM, sequence: list[int], song: Song | None = None) -> np.ndarray:
    """[len - 1, V] next-token probabilities for a delimited song, from the zero state; a
    conditioned model takes its style and bar inputs from ``song``."""
    with torch.no_grad():
        inputs = torch.tensor([sequence[:-1]])
        extra = () if song is None else conditions([song], inputs.shape[1], model.styles, model.bar_inputs)
        logits, _, _ = model(inputs, *model.zero_state(1), *extra)
        return torch.softmax(logits[0].double(), dim=-1).numpy()


def evaluate(model: MelodyLSTM, splits: dict[str, list[Song]], vocab: Vocabulary) -> dict:
    """Held-out table: LSTM, uniform, unigram and the interpolated n-grams (n chosen on validation)."""
    test = [s.sequence for s in splits["test"]]
    valid = [s.sequence for s in splits["valid"]]

    def measure(prob_fn, sequences) -> dict:
        acc = MetricAccumulator()
        for seq in sequences:
            acc.add(prob_fn(seq), seq[1:])
        return acc.result()

    ngram = NgramModel(vocab.size, max(NGRAM_ORDERS)).fit(s.sequence for s in splits["train"])

    def by_order(sequences):
        accs = [MetricAccumulator() for _ in range(ngram.max_order)]
        for seq in sequences:
            for acc, probs in zip(accs, ngram.probabilities_by_order(seq)):
                acc.add(probs, seq[1:])
        return [a.result() for a in accs]

    valid_orders, test_orders = by_order(valid), by_order(test)
    best_n = min(NGRAM_ORDERS, key=lambda n: valid_orders[n - 1]["nll_nats"])
    results = {
        "lstm": measure(lambda s: lstm_probabilities(model, s), test),
        "uniform": measure(UniformModel(vocab.size).probabilities, test),
        "unigram": test_orders[0],
        "ngram_best": {**test_orders[best_n - 1], "n": best_n},
        "ngram_valid_nll_by_n": {str(n): valid_orders[n - 1]["nll_nats"] for n in NGRAM_ORDERS},
        "ngram_test_nll_by_n": {str(n): test_orders[n - 1]["nll_nats"] for n in NGRAM_ORDERS},
    }
    results["lstm_nll_reduction_vs_best_ngram"] = 1 - results["lstm"]["nll_nats"] / results["ngram_best"]["nll_nats"]
    return results


def print_table(style: str, results: dict) -> None:
    print(f"\nheld-out test songs, style {style}: {results['lstm']['steps']} steps, {results['lstm']['notes']} notes")
    print(f"{'model':<14}{'NLL nats/step':>14}{'pitch acc':>11}{'pitch bits/note':>17}")
    for label, key in (
        ("LSTM", "lstm"),
        ("uniform", "uniform"),
        ("unigram", "unigram"),
        (f"{results['ngram_best']['n']}-gram (best)", "ngram_best"),
    ):
        r = results[key]
        print(f"{label:<14}{r['nll_nats']:>14.4f}{r['pitch_accuracy']:>11.3f}{r['pitch_bits']:>17.3f}")
    print(f"LSTM NLL {100 * results['lstm_nll_reduction_vs_best_ngram']:.1f}% below the best n-gram (target >= 20%)")


def save_loss_curve(history: dict, style: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = range(1, len(history["train"]) + 1)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(epochs, history["train"], label="train")
    ax.plot(epochs, history["valid"], label="validation")
    ax.axvline(history["best_epoch"], color="grey", linestyle=":", label=f"best epoch {history['best_epoch']}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy (nats / step)")
    ax.set_title(f"LSTM {style}")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


SHARED = "shared"


def evaluate_shared(
    model: MelodyLSTM, splits: dict[str, list[Song]], styles: tuple[str, ...], part: str = "test"
) -> dict:
    """Figures (:mod:`training.metrics`) of a shared model on each style's songs of ``part``."""
    results = {}
    for index, style in enumerate(styles):
        acc = MetricAccumulator()
        for song in splits[part]:
            if song.style_index == index:
                acc.add(lstm_probabilities(model, song.sequence, song), song.sequence[1:])
        results[style] = acc.result()
    return results


def main_shared(config: TrainConfig, vocab: Vocabulary, args) -> int:
    """Train, evaluate and export the shared model (``--style shared --styles ...``); with
    ``--export-checkpoint``, the checkpoint's weights and settings instead of training."""
    from training.dataset import load_shared

    saved = None
    if args.export_checkpoint is not None:
        saved = torch.load(args.export_checkpoint, weights_only=False)
        config = TrainConfig(**{**saved["config"], "styles": tuple(saved["config"]["styles"])})

    if not config.styles:
        raise SystemExit("--style shared needs --styles a,b,...")
    unknown = [s for s in config.styles if s not in STYLE_SOURCES]
    if unknown:
        raise SystemExit(f"unknown styles {unknown}")
    splits, report = load_shared(config.styles, vocab, extra=config.extra, tunes=config.tunes)
    for style, r in report.items():
        print(f"{style}: {r}")
    for entry in config.repeat:
        name, times = entry.split(":")
        index = config.styles.index(name)
        splits["train"] += [s for s in splits["train"] if s.style_index == index] * (int(times) - 1)
    print({k: len(v) for k, v in splits.items()}, "songs in all")
    started = time.perf_counter()
    if args.export_checkpoint is not None:
        model = MelodyLSTM(vocab.size, config.hidden_size, 0.0, len(config.styles), config.style_dim, config.bar_inputs)
        model.load_state_dict(saved["state"])
        model.eval()
        history = {**saved["history"], "stopped": f"exported from checkpoint {args.export_checkpoint} while training"}
        history["best_epoch"] = 1 + min(range(len(history["valid"])), key=history["valid"].__getitem__)
    else:
        model, history = train(config, splits, vocab, args.checkpoint)
    train_seconds = time.perf_counter() - started
    results = {part: evaluate_shared(model, splits, config.styles, part) for part in ("valid", "test")}
    for style in config.styles:
        r = results["test"][style]
        print(f"test {style:<9} NLL {r['nll_nats']:.4f} nats/step  pitch {r['pitch_bits']:.3f} bits/note")
    save_loss_curve(history, SHARED, args.curves / f"lstm_{SHARED}_loss.png")
    data = {
        "corpus": {style: describe(style) for style in config.styles},
        "styles": list(config.styles),
        "per_style": report,
        "split_rule": {style: split_rule(style) for style in config.styles},
        "split_sizes": {k: len(v) for k, v in splits.items()},
        "valid_ids": {
            st: [s.song_id for s in splits["valid"] if s.style_index == i] for i, st in enumerate(config.styles)
        },
        "test_ids": {
            st: [s.song_id for s in splits["test"] if s.style_index == i] for i, st in enumerate(config.styles)
        },
        "bar_inputs": "training.bars: bar_pos = step's position in its bar (pickups counted from the bar's end), "
        "bar_len = the time signature's bar length in steps, 0 = no meter; input i carries step i (the predicted step)",
    }
    training = {
        **asdict(config),
        "history": history,
        "train_seconds": round(train_seconds, 1),
        "torch": torch.__version__,
    }
    json_path, metadata = export_lstm(model, vocab, SHARED, args.out, training, data, results)
    print(f"exported {json_path} (onnx parity max |diff| {metadata.metrics['onnx_parity_max_abs']:.2e})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", required=True, choices=[*STYLE_SOURCES, SHARED])
    parser.add_argument("--styles", type=lambda v: tuple(v.split(",")), default=None, help="with --style shared: a,b,c")
    parser.add_argument("--bars", dest="bar_inputs", action="store_true", default=None, help="bar inputs")
    parser.add_argument("--extra", action="store_true", default=None, help="training-only collections too")
    parser.add_argument(
        "--repeat",
        type=lambda v: tuple(v.split(",")),
        default=None,
        help="shared: style:n,... (songs n times an epoch)",
    )
    parser.add_argument("--checkpoint", type=Path, default=None, help="file for the best weights so far")
    parser.add_argument(
        "--export-checkpoint",
        type=Path,
        default=None,
        help="shared model: evaluate and export the best weights of this checkpoint file, no training "
        "(a look at a run still going; its own settings are used)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "exported_models", help="folder for .onnx + .json")
    parser.add_argument("--curves", type=Path, default=REPO / "docs" / "figures", help="folder for the loss-curve PNG")
    for name in (
        "hidden_size",
        "batch_size",
        "max_epochs",
        "patience",
        "lr_patience",
        "seed",
        "threads",
        "tunes",
        "style_dim",
    ):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=None)
    for name in ("dropout", "learning_rate", "max_minutes", "bar_dropout"):
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=None)
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__ and v is not None}
    config = TrainConfig(**overrides)
    vocab = Vocabulary()
    if config.style == SHARED:
        return main_shared(config, vocab, args)
    splits, counts = load_songs(config.style, vocab, config.tunes)
    if not all(splits.values()):
        raise SystemExit(f"too few songs for a train/valid/test split: { {k: len(v) for k, v in splits.items()} }")
    print(
        f"{config.style}: {counts} -> train {len(splits['train'])}, valid {len(splits['valid'])}, test {len(splits['test'])} songs"
    )
    started = time.perf_counter()
    model, history = train(config, splits, vocab)
    train_seconds = time.perf_counter() - started
    results = evaluate(model, splits, vocab)
    print_table(config.style, results)
    save_loss_curve(history, config.style, args.curves / f"lstm_{config.style}_loss.png")
    data = {
        "corpus": describe(config.style),
        "counts": counts,
        "split_rule": split_rule(config.style),
        "split_sizes": {k: len(v) for k, v in splits.items()},
        "valid_ids": [s.song_id for s in splits["valid"]],
        "test_ids": [s.song_id for s in splits["test"]],
    }
    if config.tunes is None:
        data["near_duplicates"] = duplicate_report(config.style)
    training = {
        **asdict(config),
        "history": history,
        "train_seconds": round(train_seconds, 1),
        "torch": torch.__version__,
    }
    json_path, metadata = export_lstm(model, vocab, config.style, args.out, training, data, {"test": results})
    print(f"exported {json_path} (onnx parity max |diff| {metadata.metrics['onnx_parity_max_abs']:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
