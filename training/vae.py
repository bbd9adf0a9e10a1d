"""The VAEs in PyTorch: the seed's pitch and rhythm VAEs, and the phrase VAE livemelody ships.

Seed (slides, see ``../shared/seed/NOTES.md``): one VAE per sequence (pitches, durations),
each an MLP on the sequence's normalised values::

    encoder  Linear(in, H) -> LeakyReLU(0.2) -> Linear(H, H) -> LeakyReLU(0.2) -> FC_mean, FC_var
    decoder  Linear(Z, H) -> LeakyReLU(0.2) -> Linear(H, H) -> LeakyReLU(0.2) -> FC_output -> Sigmoid

FC_var gives the log-variance. The slide samples ``z = mean + logvar * eps``: that is a
mistake (a log-variance is not a standard deviation and may be negative); every model here
uses the standard ``z = mean + exp(0.5 * logvar) * eps``. The slides give no loss; the seed's
architecture is the common PyTorch VAE example's, whose loss is used: binary cross-entropy of
the sigmoid outputs against the [0, 1] targets, summed, plus the KL divergence.

:class:`PhraseVAE` (shipped) keeps the seed's MLP shape but models pitch and rhythm jointly
with categorical heads: the input is the one-hot pitch id (48 pitches + silence) and
duration id (8 classes) of every event, concatenated; the decoder gives logits per event
for both, trained with cross-entropy; the KL term is annealed in and has a free-bits floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from training.lstm import quiet_torchscript_export

ENCODER_INPUTS = ["pitches", "durations"]
ENCODER_OUTPUTS = ["mean", "sigma"]
DECODER_INPUTS = ["z"]
DECODER_OUTPUTS = ["pitch_logits", "duration_logits"]


def mlp_encoder(input_dim: int, hidden_dim: int) -> nn.Sequential:
    """The seed's two hidden layers: Linear -> LeakyReLU(0.2) -> Linear -> LeakyReLU(0.2)."""
    return nn.Sequential(
        nn.Linear(input_dim, hidden_dim), nn.LeakyReLU(0.2), nn.Linear(hidden_dim, hidden_dim), nn.LeakyReLU(0.2)
    )


def reparameterise(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mean + exp(0.5 * logvar) * eps, eps ~ N(0, I) (the slide's ``mean + logvar * eps`` is wrong)."""
    return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per example [batch], in nats."""
    return -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp(), dim=-1)


class SeedVAE(nn.Module):
    """The seed's VAE on one normalised sequence [batch, length] in [0, 1]."""

    def __init__(self, input_dim: int, hidden_dim: int, latent_dim: int):
        super().__init__()
        self.encoder = mlp_encoder(input_dim, hidden_dim)
        self.fc_mean = nn.Linear(hidden_dim, latent_dim)
        self.fc_var = nn.Linear(hidden_dim, latent_dim)
        self.decoder = nn.Sequential(
            mlp_encoder(latent_dim, hidden_dim), nn.Linear(hidden_dim, input_dim), nn.Sigmoid()
        )
        self.latent_dim = latent_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.fc_mean(h), self.fc_var(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor):
        mean, logvar = self.encode(x)
        return self.decode(reparameterise(mean, logvar)), mean, logvar


def seed_loss(x: torch.Tensor, recon: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Summed BCE + KL over the batch (the loss of the example the seed's model follows)."""
    return F.binary_cross_entropy(recon, x, reduction="sum") + kl_divergence(mean, logvar).sum()


@dataclass(frozen=True)
class PhraseShape:
    """Sizes of a :class:`PhraseVAE`: events per phrase, ids per event, hidden and latent units."""

    length: int
    pitch_classes: int
    duration_classes: int
    hidden: int
    latent: int


class PhraseVAE(nn.Module):
    """Joint pitch + rhythm VAE with categorical heads per event (see the module doc)."""

    def __init__(self, shape: PhraseShape):
        super().__init__()
        self.shape = shape
        width = shape.pitch_classes + shape.duration_classes
        # One-hot encodings as fixed identity lookups: buffers, not parameters.
        self.register_buffer("pitch_one_hot", torch.eye(shape.pitch_classes), persistent=False)
        self.register_buffer("duration_one_hot", torch.eye(shape.duration_classes), persistent=False)
        self.encoder = mlp_encoder(shape.length * width, shape.hidden)
        self.fc_mean = nn.Linear(shape.hidden, shape.latent)
        self.fc_var = nn.Linear(shape.hidden, shape.latent)
        self.decoder = nn.Sequential(
            mlp_encoder(shape.latent, shape.hidden), nn.Linear(shape.hidden, shape.length * width)
        )

    def encode(self, pitches: torch.Tensor, durations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, logvar) [batch, latent] of int64 ids [batch, length]."""
        x = torch.cat([self.pitch_one_hot[pitches], self.duration_one_hot[durations]], dim=-1)
        h = self.encoder(x.flatten(1))
        return self.fc_mean(h), self.fc_var(h)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pitch logits [batch, length, pitch classes], duration logits [batch, length, classes])."""
        out = self.decoder(z).view(z.shape[0], self.shape.length, -1)
        return out[..., : self.shape.pitch_classes], out[..., self.shape.pitch_classes :]

    def forward(self, pitches: torch.Tensor, durations: torch.Tensor):
        mean, logvar = self.encode(pitches, durations)
        pitch_logits, duration_logits = self.decode(reparameterise(mean, logvar))
        return pitch_logits, duration_logits, mean, logvar


def reconstruction_nats(pitch_logits, duration_logits, pitches, durations) -> torch.Tensor:
    """Cross-entropy of both heads, summed over events, per example [batch], in nats."""
    ce_p = F.cross_entropy(pitch_logits.transpose(1, 2), pitches, reduction="none").sum(1)
    ce_d = F.cross_entropy(duration_logits.transpose(1, 2), durations, reduction="none").sum(1)
    return ce_p + ce_d


class EncoderGraph(nn.Module):
    """The exported encoder: ids [batch, length] -> mean, sigma = exp(0.5 * logvar) [batch, latent]."""

    def __init__(self, vae: PhraseVAE):
        super().__init__()
        self.vae = vae

    def forward(self, pitches: torch.Tensor, durations: torch.Tensor):
        mean, logvar = self.vae.encode(pitches, durations)
        return mean, torch.exp(0.5 * logvar)


class DecoderGraph(nn.Module):
    """The exported decoder: z [batch, latent] -> pitch and duration logits [batch, length, classes]."""

    def __init__(self, vae: PhraseVAE):
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor):
        return self.vae.decode(z)


def round_to_float16(model: nn.Module) -> nn.Module:
    """Round every parameter to the nearest float16 value, in place (kept as float32).

    The exported graphs store their weights as float16 (half the file size); rounding the
    torch model first makes the metrics measured on it, and the parity check, hold for the
    weights that ship.
    """
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.half().float())
    return model


def store_weights_as_float16(path) -> None:
    """Rewrite an ONNX file so its float32 initializers are stored as float16, each followed by
    a Cast back to float32 (onnxruntime folds the casts when it loads the graph)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    initializers, casts = [], []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            initializers.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype("float16"), init.name + ".float16")
        initializers.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def export_onnx(vae: PhraseVAE, encoder_path, decoder_path, opset: int = 17) -> None:
    """Write the encoder and decoder graphs with a dynamic batch axis (TorchScript exporter),
    weights stored as float16: the model is rounded to them first (:func:`round_to_float16`)."""
    round_to_float16(vae)
    vae.eval()
    length = vae.shape.length
    ids = torch.zeros((1, length), dtype=torch.int64)
    with quiet_torchscript_export():
        torch.onnx.export(
            EncoderGraph(vae),
            (ids, ids),
            str(encoder_path),
            input_names=ENCODER_INPUTS,
            output_names=ENCODER_OUTPUTS,
            opset_version=opset,
            dynamo=False,
            dynamic_axes={name: {0: "batch"} for name in ENCODER_INPUTS + ENCODER_OUTPUTS},
        )
        torch.onnx.export(
            DecoderGraph(vae),
            (torch.zeros((1, vae.shape.latent)),),
            str(decoder_path),
            input_names=DECODER_INPUTS,
            output_names=DECODER_OUTPUTS,
            opset_version=opset,
            dynamo=False,
            dynamic_axes={name: {0: "batch"} for name in DECODER_INPUTS + DECODER_OUTPUTS},
        )
    for path in (encoder_path, decoder_path):
        store_weights_as_float16(path)


def vae_from_onnx(encoder_path, decoder_path) -> PhraseVAE:
    """Rebuild the torch model from an exported encoder and decoder (same weights; eval mode).

    The exporter keeps the parameter names (``vae.<module>.<param>``) on the initializers
    (stored as float16 under ``<name>.float16``), and the sizes follow from the weights' shapes.
    """
    import onnx
    from onnx import numpy_helper

    from livemelody.encoding.phrase import DURATION_STEPS, PITCH_CLASSES

    weights = {}
    for path in (encoder_path, decoder_path):
        for init in onnx.load(str(path)).graph.initializer:
            if init.name.startswith("vae."):
                name = init.name[len("vae.") :].removesuffix(".float16")
                weights[name] = torch.from_numpy(numpy_helper.to_array(init).astype("float32"))
    hidden, inputs = weights["encoder.0.weight"].shape
    shape = PhraseShape(
        inputs // (PITCH_CLASSES + len(DURATION_STEPS)),
        PITCH_CLASSES,
        len(DURATION_STEPS),
        hidden,
        weights["fc_mean.weight"].shape[0],
    )
    model = PhraseVAE(shape)
    model.load_state_dict(weights)
    return model.eval()
