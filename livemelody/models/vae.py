"""VaeSession: the exported phrase VAE on onnxruntime, as two graphs (encoder, decoder).

The encoder is needed to vary the player's own phrase, the decoder alone to sample; each is
an ``.onnx`` with its own ``.json`` (kinds ``vae_encoder`` and ``vae_decoder``, same style),
and both sidecars carry the same ``training["run_id"]``, so a pair from two training runs is
refused. Contract (batch axis free; ``length`` events, ``latent`` units from the metadata):

- encoder: ``pitches``, ``durations`` int64 [batch, length] (ids of
  :mod:`livemelody.encoding.phrase`) -> ``mean``, ``sigma`` float32 [batch, latent];
- decoder: ``z`` float32 [batch, latent] -> ``pitch_logits`` [batch, length, 49],
  ``duration_logits`` [batch, length, 8].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from livemelody.encoding.phrase import DURATION_STEPS, PITCH_SYMBOLS
from livemelody.models.metadata import ModelError, ModelMetadata, load_metadata, verified_onnx_path
from livemelody.models.onnx import open_session

ENCODER_IO = (["pitches", "durations"], ["mean", "sigma"])
DECODER_IO = (["z"], ["pitch_logits", "duration_logits"])


def _check(json_path: Path, metadata: ModelMetadata, kind: str, io: tuple[list[str], list[str]]) -> None:
    if metadata.kind != kind:
        raise ModelError(f"{json_path} is a {metadata.kind} model, not a {kind}")
    if (metadata.inputs, metadata.outputs) != io:
        raise ModelError(f"{json_path}: unexpected I/O names {metadata.inputs} -> {metadata.outputs}")
    if metadata.encoding.symbols != PITCH_SYMBOLS or list(metadata.encoding.duration_steps) != list(DURATION_STEPS):
        raise ModelError(f"{json_path}: its phrase encoding differs from this livemelody's")


class VaeSession:
    """One loaded phrase VAE: :meth:`encode` ids to (mean, sigma), :meth:`decode` z to ids."""

    def __init__(
        self,
        encoder_json: Path,
        decoder_json: Path,
        encoder_meta: ModelMetadata | None = None,
        decoder_meta: ModelMetadata | None = None,
    ):
        self.encoder_metadata = encoder_meta or load_metadata(encoder_json)
        self.decoder_metadata = decoder_meta or load_metadata(decoder_json)
        _check(encoder_json, self.encoder_metadata, "vae_encoder", ENCODER_IO)
        _check(decoder_json, self.decoder_metadata, "vae_decoder", DECODER_IO)
        run_ids = {m.training.get("run_id") for m in (self.encoder_metadata, self.decoder_metadata)}
        if len(run_ids) != 1 or None in run_ids:
            raise ModelError(f"{encoder_json.name} and {decoder_json.name} come from different training runs")
        dims = self.encoder_metadata.dimensions
        try:
            self.length = int(dims["phrase_length"])
            self.latent_size = int(dims["latent_size"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{encoder_json}: bad metadata dimensions ({exc})") from None
        self._encoder = open_session(verified_onnx_path(encoder_json, self.encoder_metadata))
        self._decoder = open_session(verified_onnx_path(decoder_json, self.decoder_metadata))
        self._check_graphs(encoder_json)

    def _check_graphs(self, json_path: Path) -> None:
        """Encode one phrase and decode one latent: the graphs must take and give the phrase
        length, latent size and class counts the metadata names; else :class:`ModelError`."""
        problems = []
        try:
            mean, sigma = self.encode(np.zeros(self.length, np.int64), np.zeros(self.length, np.int64))
            pitch_logits, duration_logits = self.decode_logits(np.zeros(self.latent_size, np.float32))
        except Exception as exc:  # onnxruntime refuses the shapes the metadata gives
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            problems.append(f"phrase_length {self.length} / latent_size {self.latent_size} refused ({first[:120]})")
        else:
            if mean.shape != (1, self.latent_size) or sigma.shape != (1, self.latent_size):
                problems.append(f"the encoder gives {mean.shape[-1]} latent units, metadata says {self.latent_size}")
            expected = (1, self.length)
            if pitch_logits.shape != (*expected, len(PITCH_SYMBOLS)):
                problems.append(f"pitch logits {pitch_logits.shape}, expected {(*expected, len(PITCH_SYMBOLS))}")
            if duration_logits.shape != (*expected, len(DURATION_STEPS)):
                problems.append(f"duration logits {duration_logits.shape}, expected {(*expected, len(DURATION_STEPS))}")
        if problems:
            raise ModelError(f"{json_path}: model metadata does not match its graph: {'; '.join(problems)}")

    @property
    def style(self) -> str:
        return self.encoder_metadata.style

    @property
    def metadata(self) -> ModelMetadata:
        """The encoder's metadata, which holds the training record and the held-out metrics."""
        return self.encoder_metadata

    def encode(self, pitches: np.ndarray, durations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, sigma) float32 [batch, latent] of id arrays [batch, length] (or [length])."""
        pitches = np.atleast_2d(np.asarray(pitches, dtype=np.int64))
        durations = np.atleast_2d(np.asarray(durations, dtype=np.int64))
        if pitches.shape != durations.shape or pitches.shape[1] != self.length:
            raise ValueError(f"phrase ids must be [batch, {self.length}], not {pitches.shape} and {durations.shape}")
        mean, sigma = self._encoder.run(ENCODER_IO[1], {"pitches": pitches, "durations": durations})
        return mean, sigma

    def decode_logits(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(pitch logits, duration logits) [batch, length, classes] of latents [batch, latent] (or [latent])."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float32))
        if z.shape[1] != self.latent_size:
            raise ValueError(f"z must be [batch, {self.latent_size}], not {z.shape}")
        pitch_logits, duration_logits = self._decoder.run(DECODER_IO[1], {"z": z})
        return pitch_logits, duration_logits

    def decode(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The most likely (pitch ids, duration ids) int64 [batch, length] for each latent."""
        pitch_logits, duration_logits = self.decode_logits(z)
        return pitch_logits.argmax(-1), duration_logits.argmax(-1)
