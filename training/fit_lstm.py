"""The melody LSTM's training loop for user corpora: one process or many (DDP), checkpointed.

Data parallelism that keeps one process's results: every rank builds the same global batches
(seeded per epoch), and rank r trains on rows r, r + size, ... of each (the
``DistributedSampler`` idea applied per batch). Each rank's loss is its summed cross-entropy
divided by the whole batch's token count, times the world size, so that DDP's gradient average
equals the one-process gradient of the same batch; validation sums and counts are reduced over
ranks. Same seed, same epochs: the same model up to floating-point reordering and dropout masks
(each rank draws its own). Rank 0 alone prints, writes the checkpoint and keeps the history.

A checkpoint (model, optimiser, scheduler, best weights, history) is written after every epoch;
:func:`fit` resumes from it when its configuration and data match, so Ctrl-C loses at most the
epoch under way. Per-epoch shuffles and dropout seeds derive from (seed, epoch), so a resumed
run continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training import distributed
from training.distributed import World
from training.lstm import MelodyLSTM

IGNORE = -100
STOPPING_FIELDS = ("max_epochs", "patience", "max_minutes")
"""Settings that only decide when training stops: a checkpoint resumes under other values."""


@dataclass(frozen=True)
class FitConfig:
    """Everything that determines the trained weights (stored in the checkpoint and metadata)."""

    hidden_size: int = 256
    dropout: float = 0.3
    batch_size: int = 8
    """Songs (windows) per optimiser step, over all ranks together."""
    learning_rate: float = 5e-4
    grad_clip: float = 1.0
    max_epochs: int = 60
    patience: int = 5
    """Stop after this many epochs without a validation gain."""
    lr_patience: int = 2
    """Halve the learning rate after this many epochs without a validation gain."""
    window: int = 256
    """Longest training sequence in 16th steps (16 bars of 4/4): longer songs train as windows."""
    seed: int = 0
    max_minutes: float | None = None
    """Stop after the epoch during which this much training time has passed (None: no limit)."""


@dataclass
class Sequences:
    """Token sequences addressed by index: ``get(i)`` gives a delimited song as int64 ids."""

    count: int
    get: Callable[[int], np.ndarray]
    lengths: np.ndarray
    """[count] sequence lengths, delimiters included."""


def windows(data: Sequences, window: int) -> list[tuple[int, int, int]]:
    """(sequence, start, end) pieces of at most ``window + 1`` tokens (inputs + the next token)."""
    pieces = []
    for index, length in enumerate(data.lengths.tolist()):
        for start in range(0, max(length - 1, 1), window):
            end = min(start + window + 1, length)
            if end - start >= 2:
                pieces.append((index, start, end))
    return pieces


def epoch_batches(pieces: list, batch_size: int, seed: int, epoch: int) -> list[list]:
    """The same global batches on every rank: similar lengths together, shuffled by (seed, epoch)."""
    rng = random.Random(seed * 1_000_003 + epoch)
    ordered = sorted(pieces, key=lambda p: ((p[2] - p[1]) // 16, rng.random()))
    batches = [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
    rng.shuffle(batches)
    return batches


def pad(rows: Sequence[np.ndarray], device) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) int64 [rows, longest - 1] from token rows; targets padded with IGNORE."""
    length = max(len(r) for r in rows) - 1
    inputs = torch.zeros((len(rows), length), dtype=torch.int64)
    targets = torch.full((len(rows), length), IGNORE, dtype=torch.int64)
    for i, row in enumerate(rows):
        row = torch.from_numpy(np.asarray(row, dtype=np.int64))
        inputs[i, : len(row) - 1] = row[:-1]
        targets[i, : len(row) - 1] = row[1:]
    return inputs.to(device), targets.to(device)


def validation_nll(model: MelodyLSTM, data: Sequences, world: World, batch_size: int = 32) -> float:
    """Mean cross-entropy per predicted token (nats) over every sequence, sharded over ranks."""
    model.eval()
    mine = sorted(range(world.rank, data.count, world.size), key=lambda i: data.lengths[i])
    loss_sum = nn.CrossEntropyLoss(ignore_index=IGNORE, reduction="sum")
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(mine), batch_size):
            inputs, targets = pad([data.get(j) for j in mine[i : i + batch_size]], world.device)
            h, c = (t.to(world.device) for t in model.zero_state(inputs.shape[0]))
            logits, _, _ = model(inputs, h, c)
            total += float(loss_sum(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)))
            count += int((targets != IGNORE).sum())
    total, count = distributed.sum_all(world, total, count)
    return total / max(count, 1)


def _save(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    torch.save(state, temporary)
    temporary.replace(path)


def _resumable(path: Path | None, world: World, identity: dict) -> dict | None:
    """The checkpoint at ``path`` if rank 0 finds one for the same ``identity``, on every rank."""
    state = None
    if world.is_main and path is not None and path.is_file():
        loaded = torch.load(path, map_location="cpu", weights_only=False)
        if loaded.get("identity") == identity:
            state = loaded
        else:
            print(f"checkpoint {path} is for other data or settings: starting afresh")
    return distributed.from_main(world, state)


def stop_reason(config: FitConfig, done: int, best_epoch: int, seconds: float) -> str | None:
    """Why training stops after ``done`` epochs (best at ``best_epoch``, ``seconds`` spent), or None."""
    if done >= 1 and done - best_epoch >= config.patience:
        return f"early stop: no validation gain for {config.patience} epochs"
    if config.max_minutes is not None and seconds >= 60 * config.max_minutes:
        return f"time limit: {seconds / 60:.1f} of {config.max_minutes:g} minutes"
    return None


def fit(
    model: MelodyLSTM,
    config: FitConfig,
    train: Sequences,
    valid: Sequences,
    world: World,
    checkpoint: Path | None = None,
    identity: dict | None = None,
    progress=None,
    log: Callable[[str], None] = print,
) -> tuple[MelodyLSTM, dict]:
    """Adam with early stopping on validation NLL; returns (best model on CPU, eval mode; history).

    ``identity`` (data key, base model...) must match for a checkpoint to be resumed.
    ``progress``: a ``rich.progress.Progress`` (rank 0) or None. ``model`` is trained in place.
    """
    # What the weights of each epoch depend on: not when to stop, nor the world size (any may resume).
    weights_config = {k: v for k, v in asdict(config).items() if k not in STOPPING_FIELDS}
    identity = {**(identity or {}), "config": weights_config}
    torch.manual_seed(config.seed)
    model.to(world.device)
    trained = nn.parallel.DistributedDataParallel(model) if world.distributed else model
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=config.lr_patience)
    loss_sum = nn.CrossEntropyLoss(ignore_index=IGNORE, reduction="sum")
    pieces = windows(train, config.window)
    history: dict = {"train": [], "valid": [], "seconds": [], "learning_rate": [], "steps": []}
    best_state, best_valid, best_epoch, first_epoch = copy.deepcopy(model.state_dict()), math.inf, 0, 1
    state = _resumable(checkpoint, world, identity)
    if state is not None:
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        history, best_state = state["history"], state["best_state"]
        best_valid, best_epoch, first_epoch = state["best_valid"], state["best_epoch"], state["epoch"] + 1
        if world.is_main:
            log(f"resumed from {checkpoint} after epoch {state['epoch']} (best {best_valid:.4f} at epoch {best_epoch})")
    if first_epoch == 1:
        history["valid_before"] = validation_nll(model, valid, world)
        best_valid = history["valid_before"]  # epoch 0: a fine-tuned model must beat its base to be kept
        if world.is_main:
            log(f"validation before training: {history['valid_before']:.4f} nats/step")
    spent = sum(history["seconds"])
    stopped = None
    for epoch in range(first_epoch, config.max_epochs + 1):
        stopped = stop_reason(config, epoch - 1, best_epoch, spent)
        if stopped:
            break
        started = time.perf_counter()
        torch.manual_seed(config.seed * 1_000_003 + epoch * 1009 + world.rank)  # dropout masks
        model.train()
        total, count = 0.0, 0
        batches = epoch_batches(pieces, config.batch_size, config.seed, epoch)
        task = progress.add_task(f"epoch {epoch}", total=len(batches)) if progress is not None else None
        for batch in batches:
            global_tokens = sum(end - start - 1 for _, start, end in batch)
            mine = batch[world.rank :: world.size]
            if mine:
                inputs, targets = pad([train.get(i)[s:e] for i, s, e in mine], world.device)
            else:  # fewer rows than ranks: take part in the gradient average with nothing to add
                inputs = torch.zeros((1, 1), dtype=torch.int64, device=world.device)
                targets = torch.full((1, 1), IGNORE, dtype=torch.int64, device=world.device)
            h, c = (t.to(world.device) for t in model.zero_state(inputs.shape[0]))
            logits, _, _ = trained(inputs, h, c)
            summed = loss_sum(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            loss = summed * (world.size / global_tokens)
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimiser.step()
            total, count = total + summed.item(), count + int((targets != IGNORE).sum())
            if task is not None:
                progress.advance(task)
        total, count = distributed.sum_all(world, total, count)
        valid_nll = validation_nll(model, valid, world)
        scheduler.step(valid_nll)
        history["train"].append(total / max(count, 1))
        history["valid"].append(valid_nll)
        history["seconds"].append(round(time.perf_counter() - started, 2))
        history["steps"].append(len(batches))
        history["learning_rate"].append(optimiser.param_groups[0]["lr"])
        spent += history["seconds"][-1]
        if valid_nll < best_valid - 1e-4:
            best_state, best_valid, best_epoch = copy.deepcopy(model.state_dict()), valid_nll, epoch
        if task is not None:
            progress.remove_task(task)
        if world.is_main:
            log(
                f"epoch {epoch:3d}  train {history['train'][-1]:.4f}  valid {valid_nll:.4f} nats/step  "
                f"lr {history['learning_rate'][-1]:.0e}  ({history['seconds'][-1]:.1f} s)"
            )
        if world.is_main and checkpoint is not None:
            _save(
                checkpoint,
                {
                    "identity": identity,
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "history": history,
                    "best_state": best_state,
                    "best_valid": best_valid,
                    "best_epoch": best_epoch,
                },
            )
    else:
        stopped = stop_reason(config, config.max_epochs, best_epoch, spent) or f"max epochs {config.max_epochs}"
    if world.is_main:
        log(f"{stopped}; best epoch {best_epoch}")
    distributed.barrier(world)
    model.load_state_dict(best_state)
    history["best_epoch"] = best_epoch
    history["best_valid"] = best_valid
    history["stopped"] = stopped
    return model.cpu().eval(), history
