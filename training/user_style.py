"""``livemelody train NAME FOLDER...``: a user's own style, from a folder of melodies to an installed model.

Steps (rank 0 prints; under ``torchrun`` every rank trains, rank 0 alone exports and installs):

1. read every MIDI file (and ABC / MusicXML / Humdrum through music21) under the folders into
   the memory-mapped token cache of :mod:`training.folder_corpus` (a process pool; reused when
   the files have not changed), and say what was kept and why the rest was dropped;
2. split the songs: rank of sha256(``<name>:<song id>``), the first 10% test, the next 10%
   validation (at least one song each), the rest training;
3. fine-tune the LSTM of a shipped style (``--base``, default deutsch: same vocabulary and
   architecture) or train one from scratch (``--from-scratch``) with :func:`training.fit_lstm.fit`:
   progress bar, early stopping on validation, a checkpoint per epoch that a rerun resumes;
4. evaluate on the test songs against the uniform, unigram and best interpolated n-gram baselines
   and the base model before fine-tuning; write the loss plot;
5. fine-tune the base style's phrase VAE on the style's phrases (unless ``--no-vae``);
6. measure style evidence: a classifier of the new style against the base styles' songs, and how
   the new model's continuations are heard;
7. export ONNX + metadata sidecars (config, split, metrics, sha256) and install them into the
   user's models folder (:func:`livemelody.paths.user_models_dir`), refusing to replace an
   installed style without ``--force``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from livemelody import paths
from livemelody.encoding import Vocabulary
from livemelody.models.metadata import ModelError
from livemelody.models.registry import find_model, installed_models
from training import distributed, folder_corpus
from training.dataset import Song
from training.fit_lstm import FitConfig, Sequences, fit
from training.lstm import MelodyLSTM, fold_style, lstm_from_onnx, parameter_count
from training.quantize import source_onnx

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
EVIDENCE_STYLES = ("deutsch", "han")
"""The shipped styles the style evidence compares a user's style against (their first EsAC
tunes parse in seconds; the other corpora need minutes of music21)."""


def base_styles() -> tuple[str, ...]:
    """What ``--base`` may name: every corpus style (:data:`training.corpus.STYLE_SOURCES`)
    installed with an LSTM and a phrase VAE (the shipped ones: the shared LSTM plays them all)."""
    from training.corpus import STYLE_SOURCES

    lstm = {meta.style for _, meta in installed_models("lstm")}
    vae = {meta.style for _, meta in installed_models("vae_encoder")}
    return tuple(style for style in STYLE_SOURCES if style in lstm & vae)


SPLIT_RULE = (
    "song-level by rank: songs sorted by sha256('<name>:<song id>'); the first max(1, round(0.1 n)) "
    "are test, the next max(1, round(0.1 n)) validation, the rest training"
)
MIN_SONGS = 3
EVAL_SONGS = 500
"""At most this many test (and validation) songs are scored against the baselines (the first by rank)."""
NGRAM_SONGS = 5000
"""The n-gram baselines count at most this many training songs (the first by rank)."""
VAE_SONGS = 2000
"""The VAE trains on the phrases of at most this many training songs (the first by rank)."""
EVIDENCE_TUNES = 60
"""Tunes per EsAC file of each base style for the style-evidence classifier (deutsch 240, han 120)."""


class TrainError(Exception):
    """A problem the user can fix, said in one line."""


def training_root() -> Path:
    """Work folders of ``livemelody train``: the token cache, one folder per style (checkpoint, export)."""
    return paths.data_dir() / "training"


def split_indices(name: str, ids: list[str]) -> dict[str, np.ndarray]:
    """Song indices per split (see :data:`SPLIT_RULE`); each split keeps rank order."""
    ranks = sorted(range(len(ids)), key=lambda i: hashlib.sha256(f"{name}:{ids[i]}".encode()).hexdigest())
    n_held = max(1, round(0.1 * len(ids)))
    return {
        "test": np.array(ranks[:n_held], dtype=np.int64),
        "valid": np.array(ranks[n_held : 2 * n_held], dtype=np.int64),
        "train": np.array(ranks[2 * n_held :], dtype=np.int64),
    }


def defaults_for(train_songs: int, from_scratch: bool) -> FitConfig:
    """Settings by corpus size: small folders take small batches and many short epochs; large
    ones larger batches and less patience (each epoch is long). Fine-tuning starts at a lower rate."""
    large = train_songs >= 2000
    return FitConfig(
        batch_size=32 if large else 8,
        learning_rate=(2e-3 if from_scratch else 5e-4) * (2 if large else 1),
        max_epochs=60 if train_songs < 20000 else 20,
        patience=3 if large else 5,
    )


def check_name(name: str, force: bool, target: Path) -> str | None:
    """Refuse a bad name, or a style installed (where the registry looks, or in ``target``, the
    folder to install into) without ``force``; the warning to print if forced."""
    if not NAME_PATTERN.match(name):
        raise TrainError(
            f"style name {name!r}: use 1-32 lowercase letters, digits, '-' or '_', starting with a letter or digit"
        )
    where = [str(path) for path, meta in installed_models() if meta.style == name]
    where += [str(path) for path in [target / f"lstm_{name}.json"] if path.exists()]
    if where and not force:
        raise TrainError(f"style {name!r} is already installed ({where[0]}); add --force to replace it")
    if where:
        return f"--force: replacing the installed style {name!r} ({where[0]})"
    return None


def _base_lstm(base: str, dropout: float) -> tuple[MelodyLSTM, Path]:
    try:
        json_path, meta = find_model("lstm", base)
    except ModelError as exc:
        raise TrainError(str(exc)) from None
    vocab = Vocabulary()
    if meta.encoding.pitch_low != vocab.low or meta.encoding.pitch_high != vocab.high:
        raise TrainError(
            f"base style {base!r} has another vocabulary ({meta.encoding.pitch_low}..{meta.encoding.pitch_high})"
        )
    loaded = base_model(json_path, meta)
    model = MelodyLSTM(loaded.vocab_size, loaded.hidden_size, dropout)
    model.load_state_dict(loaded.state_dict())
    return model, json_path


def base_model(json_path: Path, meta) -> MelodyLSTM:
    """The base style's LSTM in torch, as a plain model (tokens in): a style's own model as it
    is; the shared model folded at that style with no meter (:func:`training.lstm.fold_style`),
    since a user's songs come without the corpus's bar lines. ``meta``: the registry's
    metadata of the base style (its ``style`` is the style wanted)."""
    loaded = lstm_from_onnx(source_onnx(json_path, meta))
    if loaded.conditioned:
        loaded = fold_style(loaded, list(meta.data["styles"]).index(meta.style))
    return loaded


def _sequences(cache: folder_corpus.TokenCache, indices: np.ndarray) -> Sequences:
    lengths = cache.songs["length"][indices].astype(np.int64) + 2
    return Sequences(len(indices), lambda i: np.asarray(cache.sequence(int(indices[i])), dtype=np.int64), lengths)


def _songs(cache: folder_corpus.TokenCache, indices, limit: int) -> list[Song]:
    vocab = Vocabulary()
    result = []
    for i in indices[:limit]:
        tokens = cache.song_tokens(int(i))
        result.append(
            Song(cache.ids[i], int(cache.songs["shift"][i]), tuple(cache.notes(int(i), vocab)), tuple(tokens.tolist()))
        )
    return result


class _Log:
    """Prints on rank 0 only, through the progress display when there is one."""

    def __init__(self, world):
        self.world, self.progress = world, None

    def __call__(self, text: str) -> None:
        if not self.world.is_main:
            return
        if self.progress is not None:
            self.progress.console.print(text, highlight=False)
        else:
            print(text, flush=True)


def _progress(enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if not enabled:
        return None
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        transient=True,
    )


@dataclass(frozen=True)
class Request:
    """What the command line asked for."""

    name: str
    folders: tuple[Path, ...]
    base: str = "deutsch"
    from_scratch: bool = False
    vae: bool = True
    force: bool = False
    restart: bool = False
    workers: int = 0
    device: str = "auto"
    seed: int = 0
    threads: int = 1
    evidence: bool = True
    overrides: tuple = ()
    """(FitConfig field, value) pairs given on the command line."""
    vae_epochs: int | None = None
    work: Path | None = None
    models: Path | None = None
    progress: bool = True


def prepare(request: Request, world, log) -> folder_corpus.TokenCache:
    """Read the folders into the token cache (local rank 0 of each machine; the others wait)."""
    sources, ignored = folder_corpus.find_sources(list(request.folders))
    if not sources:
        raise TrainError(
            f"no MIDI, ABC or MusicXML files under {', '.join(map(str, request.folders))}"
            + (f" ({ignored} other files ignored)" if ignored else "")
        )
    root = (request.work or training_root()) / "cache"
    workers = request.workers or min(os.cpu_count() or 1, max(1, len(sources) // 16))
    cache = None
    if world.local_rank == 0:
        progress = _progress(request.progress and world.is_main)
        started = time.perf_counter()
        if progress is not None:
            with progress:
                task = progress.add_task(f"reading {len(sources)} files", total=len(sources))
                cache, reused = folder_corpus.load_cache(sources, root, workers, lambda n: progress.advance(task, n))
        else:
            cache, reused = folder_corpus.load_cache(sources, root, workers)
        seconds = time.perf_counter() - started
        how = "reused the token cache" if reused else f"read with {workers} process(es) in {seconds:.1f} s"
        log(f"{len(sources)} files ({how}; {ignored} other files ignored): {cache.summary['songs']} songs kept")
        for line in folder_corpus.dropped_lines(cache):
            log(line)
        log(f"full report: {cache.folder / 'report.tsv'}")
    distributed.barrier(world)
    if cache is None:
        cache = folder_corpus.TokenCache.open(root / folder_corpus.cache_key(sources)[:20])
    if len(cache) == 0:
        raise TrainError(
            f"no usable melody in {', '.join(map(str, request.folders))} (see {cache.folder / 'report.tsv'})"
        )
    if len(cache) < MIN_SONGS:
        raise TrainError(
            f"only {len(cache)} usable song(s) in {', '.join(map(str, request.folders))}: need at least {MIN_SONGS}"
        )
    return cache


def run(request: Request) -> int:
    """The whole command (see the module doc); returns the exit status. Raises :class:`TrainError`."""
    world = distributed.start(request.device)
    torch.set_num_threads(request.threads)
    log = _Log(world)
    try:
        return _run(request, world, log)
    finally:
        distributed.stop(world)


def _run(request: Request, world, log) -> int:
    warning = check_name(request.name, request.force, request.models or paths.user_models_dir())
    if not request.from_scratch and request.base not in (allowed := base_styles()):
        raise TrainError(f"--base must be one of {', '.join(allowed)}")
    if warning:
        log(warning)
    cache = prepare(request, world, log)
    split = split_indices(request.name, cache.ids)
    sizes = {k: len(v) for k, v in split.items()}
    config = replace(defaults_for(sizes["train"], request.from_scratch), seed=request.seed, **dict(request.overrides))
    work = (request.work or training_root()) / request.name
    if request.restart and world.is_main:
        (work / "checkpoint.pt").unlink(missing_ok=True)
    distributed.barrier(world)
    vocab = Vocabulary()
    if request.from_scratch:
        torch.manual_seed(config.seed)
        model, base_json = MelodyLSTM(vocab.size, config.hidden_size, config.dropout), None
        origin = "trained from scratch"
    else:
        model, base_json = _base_lstm(request.base, config.dropout)
        config = replace(config, hidden_size=model.hidden_size)
        origin = f"fine-tuned from {request.base} ({base_json.name})"
    log(
        f"{request.name}: train {sizes['train']}, valid {sizes['valid']}, test {sizes['test']} songs; LSTM {origin}, "
        f"{parameter_count(model):,} parameters; {world.size} process(es) on {world.device.type}; "
        f"batch {config.batch_size}, learning rate {config.learning_rate:g}, up to {config.max_epochs} epochs"
    )
    identity = {"data": cache.folder.name, "name": request.name, "origin": origin}
    progress = _progress(request.progress and world.is_main)
    log.progress = progress
    started = time.perf_counter()
    try:
        if progress is not None:
            progress.start()
        model, history = fit(
            model,
            config,
            _sequences(cache, split["train"]),
            _sequences(cache, split["valid"]),
            world,
            checkpoint=work / "checkpoint.pt",
            identity=identity,
            progress=progress,
            log=log,
        )
    except KeyboardInterrupt:
        if progress is not None:
            progress.stop()
        log.progress = None
        log(f"interrupted: run the same command again to resume from the checkpoint in {work}")
        return 130
    finally:
        if progress is not None:
            progress.stop()
        log.progress = None
    train_seconds = time.perf_counter() - started
    if not world.is_main:
        return 0
    return _finish(request, cache, split, config, model, history, train_seconds, origin, base_json, work, log)


def _finish(request, cache, split, config, model, history, train_seconds, origin, base_json, work, log) -> int:
    """Rank 0: evaluate, VAE, style evidence, export, install."""
    from livemelody.models.lstm import LstmSession
    from training.export import export_lstm
    from training.train_lstm import print_table, save_loss_curve

    vocab = Vocabulary()
    name = request.name
    export_dir = work / "export"
    shutil.rmtree(export_dir, ignore_errors=True)
    export_dir.mkdir(parents=True)
    results = evaluate(
        model,
        cache,
        split,
        vocab,
        None if base_json is None else base_model(base_json, find_model("lstm", request.base)[1]),
    )
    print_table(name, results)
    if "base" in results:
        log(
            f"base model {request.base} on the same test songs: NLL {results['base']['nll_nats']:.4f} "
            f"-> {results['lstm']['nll_nats']:.4f} after fine-tuning"
        )
    save_loss_curve(history, name, export_dir / f"lstm_{name}_loss.png")
    sizes = {k: len(v) for k, v in split.items()}
    data = {
        "corpus": "user folders: " + ", ".join(str(Path(f).resolve()) for f in request.folders),
        "counts": {**cache.summary["by_status"], "files": cache.summary["files"], "songs": cache.summary["songs"]},
        "token_cache": cache.folder.name,
        "split_rule": SPLIT_RULE,
        "split_sizes": sizes,
        "valid_ids": [cache.ids[i] for i in split["valid"][:EVAL_SONGS]],
        "test_ids": [cache.ids[i] for i in split["test"][:EVAL_SONGS]],
    }
    training = {
        **asdict(config),
        "style": name,
        "origin": origin,
        "base": None if request.from_scratch else request.base,
        "threads": request.threads,
        "history": history,
        "train_seconds": round(train_seconds, 1),
        "torch": torch.__version__,
    }
    lstm_json, _ = export_lstm(model, vocab, name, export_dir, training, data, {"test": results})
    files = [lstm_json, lstm_json.with_suffix(".onnx"), export_dir / f"lstm_{name}_loss.png"]
    if request.vae:
        files += train_user_vae(request, cache, split, export_dir, data, log)
    if request.evidence:
        evidence = style_evidence(name, cache, split, LstmSession(lstm_json), work)
        _add_metric(lstm_json, "style_evidence", evidence)
        log(format_evidence(name, evidence))
    installed = install(files, request.models or paths.user_models_dir(), request.force, name)
    log(f"installed style {name!r} in {installed}: try  livemelody continue some.mid -o out.mid --style {name}")
    return 0


def evaluate(model, cache, split, vocab, base_model=None) -> dict:
    """Held-out table as :func:`training.train_lstm.evaluate` (at most EVAL_SONGS test and
    validation songs, NGRAM_SONGS for the n-grams), plus the base model on the same songs."""
    from types import SimpleNamespace

    from training.metrics import MetricAccumulator
    from training.train_lstm import evaluate as evaluate_splits
    from training.train_lstm import lstm_probabilities

    def songs(indices, limit):
        return [SimpleNamespace(sequence=cache.sequence(int(i))) for i in indices[:limit]]

    splits = {
        "train": songs(split["train"], NGRAM_SONGS),
        "valid": songs(split["valid"], EVAL_SONGS),
        "test": songs(split["test"], EVAL_SONGS),
    }
    results = evaluate_splits(model, splits, vocab)
    if base_model is not None:
        acc = MetricAccumulator()
        for song in splits["test"]:
            acc.add(lstm_probabilities(base_model, song.sequence), song.sequence[1:])
        results["base"] = acc.result()
    return results


def train_user_vae(request: Request, cache, split, export_dir: Path, data: dict, log) -> list[Path]:
    """Fine-tune the base style's phrase VAE (or train one from scratch) on the style's phrases; export it."""
    from livemelody.models.metadata import load_metadata
    from training.export import export_vae
    from training.lstm import parameter_count as count
    from training.phrases import PHRASE_LENGTH, TRAIN_HOP, make_phrases
    from training.train_vae import VaeConfig, evaluate_phrase, print_reconstruction, train_phrase
    from training.vae import vae_from_onnx

    songs = {k: _songs(cache, v, VAE_SONGS if k == "train" else EVAL_SONGS) for k, v in split.items()}
    phrases = {
        k: make_phrases(v, PHRASE_LENGTH, TRAIN_HOP if k == "train" else PHRASE_LENGTH) for k, v in songs.items()
    }
    if not all(len(p) for p in phrases.values()):
        log(f"no VAE: too few phrases for a split ({ {k: len(v) for k, v in phrases.items()} })")
        return []
    n = len(phrases["train"])
    epochs = request.vae_epochs or max(3, min(20, 200_000 // n))
    if request.from_scratch:
        config, model, origin = (
            VaeConfig(style=request.name, epochs=epochs, seed=request.seed),
            None,
            "trained from scratch",
        )
    else:
        encoder_json, encoder_meta = find_model("vae_encoder", request.base)
        decoder_json, decoder_meta = find_model("vae_decoder", request.base)
        model = vae_from_onnx(
            encoder_json.with_name(encoder_meta.onnx_file), decoder_json.with_name(decoder_meta.onnx_file)
        )
        base = load_metadata(encoder_json).training
        config = VaeConfig(
            style=request.name,
            hidden=model.shape.hidden,
            latent=model.shape.latent,
            epochs=epochs,
            learning_rate=3e-4,
            kl_anneal_epochs=0,
            free_bits=base.get("free_bits", VaeConfig.free_bits),
            beta=base.get("beta", VaeConfig.beta),
            seed=request.seed,
            threads=request.threads,
        )
        origin = f"fine-tuned from {request.base} ({encoder_json.name})"
    log(
        f"phrase VAE {origin}: phrases train {n}, valid {len(phrases['valid'])}, test {len(phrases['test'])}; {epochs} epochs"
    )
    started = time.perf_counter()
    model, history = train_phrase(config, phrases, model)
    results = evaluate_phrase(model, phrases["test"], config.seed)
    print_reconstruction("phrase VAE", results["reconstruction"])
    training = {
        **asdict(config),
        "origin": origin,
        "history": history,
        "train_seconds": round(time.perf_counter() - started, 1),
        "parameters": count(model),
        "torch": torch.__version__,
    }
    vae_data = {**data, "phrases": {k: len(v) for k, v in phrases.items()}, "vae_songs_limit": VAE_SONGS}
    encoder, decoder = export_vae(model, request.name, export_dir, training, vae_data, {"test": results})
    return [encoder, encoder.with_suffix(".onnx"), decoder, decoder.with_suffix(".onnx")]


def style_evidence(name: str, cache, split, session, work: Path) -> dict:
    """:func:`training.style_evidence.against_base_styles` with the shipped styles' first EsAC tunes."""
    from livemelody.models.registry import load_lstm
    from training.dataset import load_songs
    from training.style_evidence import against_base_styles

    vocab = Vocabulary()
    base = {}
    for style in EVIDENCE_STYLES:
        splits, _ = load_songs(style, vocab, EVIDENCE_TUNES, cache_dir=(work.parent / "base_corpus"))
        base[style] = {"train": [s.notes for s in splits["train"]], "test": [s.notes for s in splits["test"]]}
    own = {
        "train": [s.notes for s in _songs(cache, split["train"], NGRAM_SONGS)],
        "test": [s.notes for s in _songs(cache, split["test"], EVAL_SONGS)],
    }
    sessions = {name: session, **{style: load_lstm(style) for style in EVIDENCE_STYLES}}
    result = against_base_styles(name, own, base, sessions)
    result["base_tunes_per_file"] = EVIDENCE_TUNES
    return result


def format_evidence(name: str, evidence: dict) -> str:
    accuracy = ", ".join(f"{k} {v:.2f}" for k, v in evidence["test_accuracy"].items())
    lines = [f"style evidence: held-out songs classified right: {accuracy}"]
    for key, what in (("continuations", "the European primer"), ("continuations_of_openings", "held-out openings")):
        if f"{key}_heard_as_{name}" in evidence:
            heard = ", ".join(f"{k} {v:.2f}" for k, v in evidence[f"{key}_heard_as_{name}"].items())
            lines.append(f"continuations of {what} heard as {name}, by model: {heard}")
    return "\n".join(lines)


def _add_metric(json_path: Path, key: str, value) -> None:
    from livemelody.models.metadata import ModelMetadata, load_metadata

    meta = load_metadata(json_path)
    ModelMetadata.from_dict({**meta.to_dict(), "metrics": {**meta.metrics, key: value}}).save(json_path)


def install(files: list[Path], folder: Path, force: bool, name: str) -> Path:
    """Copy the exported files into ``folder`` (the ``.onnx`` first, each sidecar after its model).

    With ``force``, the style's earlier files there go first (a VAE left from an earlier run must
    not pair with a new LSTM)."""
    folder.mkdir(parents=True, exist_ok=True)
    if force:
        stems = [f"lstm_{name}", f"vae_{name}_encoder", f"vae_{name}_decoder"]
        for old in [folder / f"{stem}.{ext}" for stem in stems for ext in ("json", "onnx")]:
            old.unlink(missing_ok=True)
        (folder / f"lstm_{name}_loss.png").unlink(missing_ok=True)
    for path in sorted(files, key=lambda p: p.suffix != ".onnx"):
        target = folder / path.name
        if target.exists() and not force:
            raise TrainError(f"{target} exists; add --force to replace it")
        shutil.copy2(path, target.with_suffix(target.suffix + ".part"))
        os.replace(target.with_suffix(target.suffix + ".part"), target)
    return folder


def request_from_args(args: argparse.Namespace) -> Request:
    fields = (
        "hidden_size",
        "dropout",
        "batch_size",
        "learning_rate",
        "max_epochs",
        "patience",
        "window",
        "max_minutes",
    )
    overrides = tuple((f, getattr(args, f)) for f in fields if getattr(args, f, None) is not None)
    return Request(
        name=args.name,
        folders=tuple(args.folders),
        base=args.base,
        from_scratch=args.from_scratch,
        vae=not args.no_vae,
        force=args.force,
        restart=args.restart,
        workers=args.workers,
        device=args.device,
        seed=args.seed,
        threads=args.threads,
        evidence=not args.no_evidence,
        overrides=overrides,
        vae_epochs=args.vae_epochs,
        work=args.work,
        models=args.models,
        progress=not args.no_progress and sys.stdout.isatty(),
    )
