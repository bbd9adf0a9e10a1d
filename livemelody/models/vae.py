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
        self.length = int(dims["phrase_length"])
        self.latent_size = int(dims["latent_size"])
        self._encoder = open_session(verified_onnx_path(encoder_json, self.encoder_metadata))
        self._decoder = open_session(verified_onnx_path(decoder_json, self.decoder_metadata))

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
