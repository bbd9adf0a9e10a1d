"""Train, evaluate and export the VAEs: the seed's pitch and rhythm VAEs, or the phrase VAE.

    python -m training.train_vae --style deutsch                 # phrase VAE -> exported_models/vae_deutsch_*
    python -m training.train_vae --style deutsch --seed-config   # the seed's two VAEs -> docs/results/
    python -m training.train_vae --style han --tunes 20 --epochs 1 --out /tmp/m   # smoke run

``--seed-config`` trains the seed's pitch VAE and rhythm VAE with the slides' hyper-parameters
(see :data:`SEED_CONFIGS`), evaluates them as a pair on the held-out phrases and writes
``<results>/vae_seed_<style>.json``; they are measured, not shipped. Without it, the phrase VAE
is trained, evaluated on the same phrases and exported as two ONNX graphs with sidecars.

Seeded and single-threaded by default, so the same command reproduces the same model.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from livemelody.encoding.phrase import DURATION_STEPS, PITCH_CLASSES
from training.corpus import STYLE_SOURCES, describe
from training.dataset import split_rule
from training.export import export_vae
from training.lstm import parameter_count
from training.phrases import (
    MIN_EVENTS,
    PHRASE_LENGTH,
    TRAIN_HOP,
    Phrases,
    diatonic_augment,
    load_phrases,
    seed_duration_ids,
    seed_duration_values,
    seed_pitch_ids,
    seed_pitch_values,
    steps_per_event,
)
from training.vae import (
    PhraseShape,
    PhraseVAE,
    SeedVAE,
    kl_divergence,
    reconstruction_nats,
    round_to_float16,
    seed_loss,
)
from training.vae_metrics import edit_distance, melody_statistics, phrase_events, real_mask, reconstruction

REPO = Path(__file__).resolve().parent.parent
PRIOR_SAMPLES = 1000
AMOUNTS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
"""Noise scales s of the s -> edit distance table (z = mean + s * sigma * eps; the key is
``amount``, the knob's meaning before :func:`livemelody.variation.noise_scale`)."""
DRAWS_PER_PHRASE = 4
VALID_DURATION_TOLERANCE = 0.25
"""A seed rhythm output counts as a valid duration when it lies within this many class units
of a class (its sigmoid output, times 7, near an integer)."""


@dataclass(frozen=True)
class VaeConfig:
    """Everything that determines the trained weights (stored in the results and metadata).

    The phrase VAE's defaults were chosen on the deutsch validation phrases (exact notes with
    z = mean, 15-20 epochs per development run); the figures are given with each field. A plain
    ELBO (beta 1, no free bits) collapsed to 7 nats of KL and 27% exact notes. A bidirectional
    GRU encoder with a GRU decoder generalised better per epoch but reached only 64% after 20
    epochs at 18 s each, against 3-12 s for the MLP.
    """

    style: str
    model: str = "phrase"
    """``phrase`` (shipped), ``seed_pitch`` or ``seed_rhythm``."""
    hidden: int = 512
    """256 units reached 92% (with augmentation) against 97% for 512."""
    latent: int = 128
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    cosine_schedule: bool = True
    """Cosine decay of the learning rate to 0 over the epochs (the seed keeps it constant)."""
    beta: float = 0.2
    """Weight of the KL term above the free bits, after annealing."""
    kl_anneal_epochs: int = 5
    """The KL weight rises linearly to ``beta`` over this many epochs (0 = from the start)."""
    free_bits: float = 160.0
    """Nats of KL per phrase that cost nothing (MusicVAE's free bits); 0 = plain ELBO. 96 nats
    gave 91% exact notes, 160 gave 94% (without augmentation)."""
    augment: float = 0.5
    """Share of training phrases moved by -3..3 scale steps each batch (0 = none): 94% -> 97%.
    (Dropout 0.2 instead gave 87%.)"""
    train_hop: int = TRAIN_HOP
    """A training window starts every this many events (1: every event at every position):
    a hop of 4 gave 72% exact notes, 1 gave 91% (free bits 96, no augmentation)."""
    seed: int = 0
    threads: int = 1
    tunes: int | None = None
    """Parse only the first tunes of each ABC file (smoke tests); None = the whole corpus."""
    init_from: str | None = None
    """Start from the shipped phrase VAE of this style (its weights; the sizes follow from them)
    instead of a fresh one, as ``livemelody train`` fine-tunes a base style: a small corpus (the
    chorales' 13,067 training phrases) reached 79.8% exact notes from scratch in 20 epochs."""


_SEED_COMMON = dict(
    weight_decay=0.0,
    cosine_schedule=False,
    beta=1.0,
    kl_anneal_epochs=0,
    free_bits=0.0,
    augment=0.0,
    train_hop=PHRASE_LENGTH,
)
SEED_CONFIGS = {
    "seed_pitch": dict(
        _SEED_COMMON,
        model="seed_pitch",
        hidden=500,
        latent=250,
        epochs=200,
        batch_size=32,
        learning_rate=1e-5,
        weight_decay=1e-6,
    ),
    "seed_rhythm": dict(
        _SEED_COMMON, model="seed_rhythm", hidden=500, latent=300, epochs=8, batch_size=64, learning_rate=1e-3
    ),
}
"""The slides' hyper-parameters: Adam, no schedule, plain ELBO (BCE + KL), no augmentation, and
each training phrase once per epoch (non-overlapping windows), as the seed saw each sequence once.
(Overlapping windows would also make the pitch VAE's 200 epochs take 40 minutes per style.)"""


def set_seeds(seed: int, threads: int) -> torch.Generator:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    return torch.Generator().manual_seed(seed)


def kl_weight(config: VaeConfig, epoch: int) -> float:
    """KL weight in ``epoch`` (1-based): linear warm-up over ``kl_anneal_epochs``, then ``beta``."""
    if config.kl_anneal_epochs <= 0:
        return config.beta
    return config.beta * min(1.0, epoch / config.kl_anneal_epochs)


def fit(config: VaeConfig, model: torch.nn.Module, n_train: int, batch_loss, validate) -> dict:
    """Adam over shuffled batches for ``config.epochs``; ``batch_loss(index, kl weight, generator)``
    gives a batch's loss, ``validate(model)`` a dict of validation figures per epoch."""
    generator = set_seeds(config.seed, config.threads)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.epochs) if config.cosine_schedule else None
    history: dict = {"train": [], "valid": [], "seconds": []}
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        weight = kl_weight(config, epoch)
        model.train()
        total = 0.0
        order = torch.randperm(n_train, generator=generator)
        for i in range(0, n_train, config.batch_size):
            index = order[i : i + config.batch_size]
            loss = batch_loss(index, weight, generator)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item()
        if scheduler is not None:
            scheduler.step()
        model.eval()
        with torch.no_grad():
            figures = validate(model)
        history["train"].append(total / math.ceil(n_train / config.batch_size))
        history["valid"].append(figures)
        history["seconds"].append(round(time.perf_counter() - started, 2))
        shown = "  ".join(f"{k} {v:.4f}" for k, v in figures.items())
        print(
            f"{config.model} epoch {epoch:3d}  kl weight {weight:.2f}  train loss {history['train'][-1]:.3f}  "
            f"valid {shown}  ({history['seconds'][-1]:.0f} s)",
            flush=True,
        )
    return history


# ---------------------------------------------------------------- the seed's VAEs


def seed_values(model: str, phrases: Phrases) -> torch.Tensor:
    ids = phrases.pitches if model == "seed_pitch" else phrases.durations
    return torch.from_numpy(seed_pitch_values(ids) if model == "seed_pitch" else seed_duration_values(ids))


def seed_ids(model: str, values: np.ndarray) -> np.ndarray:
    return seed_pitch_ids(values) if model == "seed_pitch" else seed_duration_ids(values)


def train_seed(config: VaeConfig, phrases: dict[str, Phrases]) -> tuple[SeedVAE, dict]:
    """One of the seed's VAEs, on its sequence (pitches or durations), with the summed BCE + KL."""
    set_seeds(config.seed, config.threads)
    model = SeedVAE(PHRASE_LENGTH, config.hidden, config.latent)
    x, x_valid = seed_values(config.model, phrases["train"]), seed_values(config.model, phrases["valid"])
    valid = phrases["valid"]
    target = valid.pitches if config.model == "seed_pitch" else valid.durations

    def batch_loss(index, weight, generator):
        recon, mean, logvar = model(x[index])
        return seed_loss(x[index], recon, mean, logvar)  # summed over the batch, as in the seed

    def validate(model):
        mean, logvar = model.encode(x_valid)
        ids = seed_ids(config.model, model.decode(mean).numpy())
        ok = (ids == target)[real_mask(valid.lengths, PHRASE_LENGTH)]
        recon, m, lv = model(x_valid)
        return {"loss_per_phrase": float(seed_loss(x_valid, recon, m, lv)) / len(x_valid), "exact": float(ok.mean())}

    print(f"{config.model}: {parameter_count(model):,} parameters", flush=True)
    return model, fit(config, model, len(x), batch_loss, validate)


def evaluate_seed(pitch_vae: SeedVAE, rhythm_vae: SeedVAE, test: Phrases, seed: int) -> dict:
    """Reconstruction with z = mean (pitch from one VAE, duration from the other) and prior samples."""
    with torch.no_grad():
        decoded, kl = {}, {}
        for name, model in (("seed_pitch", pitch_vae), ("seed_rhythm", rhythm_vae)):
            mean, logvar = model.encode(seed_values(name, test))
            decoded[name] = seed_ids(name, model.decode(mean).numpy())
            kl[name] = float(kl_divergence(mean, logvar).mean())
        generator = torch.Generator().manual_seed(seed)
        pitch_raw = pitch_vae.decode(torch.randn((PRIOR_SAMPLES, pitch_vae.latent_dim), generator=generator)).numpy()
        rhythm_raw = rhythm_vae.decode(torch.randn((PRIOR_SAMPLES, rhythm_vae.latent_dim), generator=generator)).numpy()
    prior_pitches, prior_durations = seed_pitch_ids(pitch_raw), seed_duration_ids(rhythm_raw)
    samples = phrase_events(prior_pitches, prior_durations)
    scaled = rhythm_raw * (len(DURATION_STEPS) - 1)
    near = np.abs(scaled - np.rint(scaled)) <= VALID_DURATION_TOLERANCE
    kept = np.array([[i < len(s) for i in range(PHRASE_LENGTH)] for s in samples])
    valid_durations = float(near[kept].mean()) if kept.any() else 0.0
    return {
        "reconstruction": reconstruction(
            decoded["seed_pitch"], decoded["seed_rhythm"], test.pitches, test.durations, test.lengths
        ),
        "prior": melody_statistics(samples, valid_durations),
        "kl_nats_mean": kl,
    }


# ---------------------------------------------------------------- the phrase VAE


def train_phrase(
    config: VaeConfig, phrases: dict[str, Phrases], model: PhraseVAE | None = None
) -> tuple[PhraseVAE, dict]:
    """The shipped VAE: cross-entropy of both heads + weight * max(KL - free bits, 0), per phrase.

    ``model``: weights to start from (fine-tuning a trained VAE); None = a fresh one of the config's sizes.
    """
    set_seeds(config.seed, config.threads)
    if model is None:
        model = PhraseVAE(PhraseShape(PHRASE_LENGTH, PITCH_CLASSES, len(DURATION_STEPS), config.hidden, config.latent))
    train, valid = phrases["train"], phrases["valid"]
    pitches, durations = torch.from_numpy(train.pitches), torch.from_numpy(train.durations)
    valid_p, valid_d = torch.from_numpy(valid.pitches), torch.from_numpy(valid.durations)

    def batch_loss(index, weight, generator):
        p = diatonic_augment(pitches[index], config.augment, generator) if config.augment else pitches[index]
        d = durations[index]
        pitch_logits, duration_logits, mean, logvar = model(p, d)
        kl = kl_divergence(mean, logvar).mean()
        return reconstruction_nats(pitch_logits, duration_logits, p, d).mean() + weight * torch.clamp(
            kl - config.free_bits, min=0
        )

    def validate(model):
        mean, logvar = model.encode(valid_p, valid_d)
        pitch_logits, duration_logits = model.decode(mean)
        r = reconstruction(
            pitch_logits.argmax(-1).numpy(),
            duration_logits.argmax(-1).numpy(),
            valid.pitches,
            valid.durations,
            valid.lengths,
        )
        return {
            "recon_nats": float(reconstruction_nats(pitch_logits, duration_logits, valid_p, valid_d).mean()),
            "kl_nats": float(kl_divergence(mean, logvar).mean()),
            "exact_note": r["note"],
        }

    print(f"phrase VAE: {parameter_count(model):,} parameters", flush=True)
    history = fit(config, model, len(train), batch_loss, validate)
    return round_to_float16(model).eval(), history  # the weights that ship (see training.vae.export_onnx)


def decode_ids(model: PhraseVAE, z: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    pitch_logits, duration_logits = model.decode(z)
    return pitch_logits.argmax(-1).numpy(), duration_logits.argmax(-1).numpy()


def evaluate_phrase(model: PhraseVAE, test: Phrases, seed: int) -> dict:
    """Reconstruction with z = mean, prior samples, and the amount -> edit distance table.

    Variation as the runtime does it (:func:`livemelody.variation.perturb`): z = mean +
    amount * sigma * eps, decoded, cut to the phrase's length; the edit distance counts
    events (pitch and duration together) inserted, deleted or changed against the input.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        mean, logvar = model.encode(torch.from_numpy(test.pitches), torch.from_numpy(test.durations))
        rec = reconstruction(*decode_ids(model, mean), test.pitches, test.durations, test.lengths)
        prior = phrase_events(*decode_ids(model, torch.randn((PRIOR_SAMPLES, model.shape.latent), generator=generator)))
        sigma = torch.exp(0.5 * logvar)
        originals = phrase_events(test.pitches, test.durations, test.lengths)
        table = []
        for amount in AMOUNTS:
            distances = []
            for _ in range(DRAWS_PER_PHRASE):
                z = mean + amount * sigma * torch.randn(mean.shape, generator=generator)
                varied = phrase_events(*decode_ids(model, z), test.lengths)
                distances += [edit_distance(a, b) for a, b in zip(originals, varied)]
            distances = np.array(distances)
            table.append(
                {
                    "amount": amount,
                    "mean_edit_distance": float(distances.mean()),
                    "per_event": float(np.mean(distances / np.tile(test.lengths, DRAWS_PER_PHRASE))),
                    "unchanged": float(np.mean(distances == 0)),
                }
            )
    return {
        "reconstruction": rec,
        "prior": melody_statistics(prior, 1.0),
        "variation": table,
        "draws_per_phrase": DRAWS_PER_PHRASE,
        "posterior_sigma_mean": float(sigma.mean()),
        "kl_nats_mean": float(kl_divergence(mean, logvar).mean()),
    }


# ---------------------------------------------------------------- command


def data_record(style: str, counts: dict, phrases: dict[str, Phrases], songs: dict, train_hop: int) -> dict:
    return {
        "steps_per_event": round(steps_per_event(songs), 3),
        "corpus": describe(style),
        "counts": counts,
        "split_rule": split_rule(style),
        "split_sizes": {k: len(v) for k, v in songs.items()},
        "phrases": {k: len(v) for k, v in phrases.items()},
        "phrase_rule": f"{PHRASE_LENGTH} events (notes and rests); training windows every {train_hop} event(s), "
        f"held-out windows every {PHRASE_LENGTH}; at least {MIN_EVENTS} events, padded",
        "test_ids": [s.song_id for s in songs["test"]],
    }


def print_reconstruction(label: str, r: dict) -> None:
    print(
        f"{label:<12} exact pitch {100 * r['pitch']:.1f}%  duration {100 * r['duration']:.1f}%  "
        f"note {100 * r['note']:.1f}%  phrase {100 * r['phrase']:.1f}%  ({r['phrases']} phrases, {r['events']} events)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", required=True, choices=list(STYLE_SOURCES))
    parser.add_argument(
        "--seed-config",
        action="store_true",
        help="train and measure the seed's pitch and rhythm VAEs with the slides' settings",
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "exported_models", help="folder for the phrase VAE's .onnx + .json"
    )
    parser.add_argument(
        "--results", type=Path, default=REPO / "docs" / "results", help="folder for the seed VAEs' results"
    )
    for name in (
        "hidden",
        "latent",
        "epochs",
        "batch_size",
        "kl_anneal_epochs",
        "train_hop",
        "seed",
        "threads",
        "tunes",
    ):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=None)
    for name in ("learning_rate", "weight_decay", "beta", "free_bits", "augment"):
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=None)
    parser.add_argument(
        "--init-from", choices=list(STYLE_SOURCES), default=None, help="start from this style's shipped VAE"
    )
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k in VaeConfig.__dataclass_fields__ and v is not None}
    base = VaeConfig(**{"style": args.style, **overrides})
    if args.seed_config:
        # The slides' settings; only --epochs, --tunes, --seed and --threads carry over (smoke runs).
        keep = {k: v for k, v in overrides.items() if k in ("epochs", "tunes", "seed", "threads")}
        base = replace(base, **{**SEED_CONFIGS["seed_pitch"], **keep})
    phrases, counts, songs = load_phrases(base.style, base.train_hop, base.tunes)
    if not all(len(p) for p in phrases.values()):
        raise SystemExit(f"too few phrases for a train/valid/test split: { {k: len(v) for k, v in phrases.items()} }")
    print(f"{base.style}: phrases " + ", ".join(f"{k} {len(v)}" for k, v in phrases.items()), flush=True)
    data = data_record(base.style, counts, phrases, songs, base.train_hop)
    test = phrases["test"]
    real = melody_statistics(phrase_events(test.pitches, test.durations, test.lengths))

    if args.seed_config:
        configs = {name: replace(base, **{**preset, **keep}) for name, preset in SEED_CONFIGS.items()}
        started = time.perf_counter()
        trained = {name: train_seed(config, phrases) for name, config in configs.items()}
        results = {**evaluate_seed(trained["seed_pitch"][0], trained["seed_rhythm"][0], test, base.seed), "real": real}
        print_reconstruction("seed VAEs", results["reconstruction"])
        record = {
            "models": {
                name: {
                    "config": asdict(configs[name]),
                    "history": trained[name][1],
                    "parameters": parameter_count(trained[name][0]),
                }
                for name in configs
            },
            "train_seconds": round(time.perf_counter() - started, 1),
            "torch": torch.__version__,
            "data": data,
            "metrics": {"test": results},
        }
        args.results.mkdir(parents=True, exist_ok=True)
        path = args.results / f"vae_seed_{base.style}.json"
        path.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {path}")
        return 0

    start_from, origin = None, "trained from scratch"
    if base.init_from is not None:
        from livemelody.models.registry import find_model
        from training.vae import vae_from_onnx

        (encoder_json, encoder_meta), (decoder_json, decoder_meta) = (
            find_model(kind, base.init_from) for kind in ("vae_encoder", "vae_decoder")
        )
        start_from = vae_from_onnx(
            encoder_json.with_name(encoder_meta.onnx_file), decoder_json.with_name(decoder_meta.onnx_file)
        )
        base = replace(base, hidden=start_from.shape.hidden, latent=start_from.shape.latent)
        origin = f"fine-tuned from {encoder_json.name} (run {encoder_meta.training.get('run_id')})"
        print(f"phrase VAE {origin}", flush=True)
    started = time.perf_counter()
    model, history = train_phrase(base, phrases, start_from)
    train_seconds = time.perf_counter() - started
    model.eval()
    results = {**evaluate_phrase(model, test, base.seed), "real": real}
    print_reconstruction("phrase VAE", results["reconstruction"])
    for row in results["variation"]:
        print(
            f"noise scale {row['amount']:<5} mean edit distance {row['mean_edit_distance']:.2f} events "
            f"({100 * row['per_event']:.1f}% of the phrase)"
        )
    training = {
        **asdict(base),
        "origin": origin,
        "history": history,
        "train_seconds": round(train_seconds, 1),
        "parameters": parameter_count(model),
        "torch": torch.__version__,
    }
    encoder_json, _ = export_vae(model, base.style, args.out, training, data, {"test": results})
    parity = json.loads(encoder_json.read_text())["metrics"]["onnx_parity_max_abs"]
    print(f"exported {encoder_json} and its decoder (onnx parity max |diff| {parity:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
