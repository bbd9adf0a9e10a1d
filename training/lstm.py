"""The seed's melody LSTM in PyTorch, with the ONNX step contract as its forward signature.

Seed (Keras summary on the slides): one-hot input -> LSTM(256) -> Dropout -> Dense(softmax).
Here ``forward(tokens, h, c) -> (logits, h_out, c_out)`` is exactly the exported graph:
``tokens`` int64 [batch, time]; ``h``, ``c`` float32 [1, batch, hidden]; ``logits``
[batch, time, vocab] (softmax is applied by the sampler, not the graph).
"""

from __future__ import annotations

import contextlib
import warnings

import torch
from torch import nn

from training.bars import MAX_BAR_LEN

INPUT_NAMES = ["tokens", "h", "c"]
OUTPUT_NAMES = ["logits", "h_out", "c_out"]
CONDITIONED_INPUT_NAMES = ["tokens", "style", "bar_pos", "bar_len", "h", "c"]
"""Inputs of a model with a style input and bar inputs (:class:`MelodyLSTM` with ``styles`` > 0
and ``bar_inputs``): ``style`` float32 [batch, styles] (a one-hot row, or weights summing to 1
for a blend), ``bar_pos`` and ``bar_len`` int64 [batch, time] (:mod:`training.bars`)."""


class MelodyLSTM(nn.Module):
    """One-hot tokens -> LSTM -> dropout -> dense logits over the vocabulary.

    Options for the shared model (both off: the seed's model, same parameters):
    ``styles`` > 0 adds a style input, float32 [batch, styles] weights times a learnt
    [styles, style_dim] table, the same vector at every step (a one-hot row selects one style;
    a blend interpolates the embeddings); ``bar_inputs`` adds learnt embeddings of the step's
    position in its bar (``bar_pos`` 0..47) and of the bar's length (``bar_len`` 0..48, 0 = no
    meter), int64 [batch, time]. The LSTM's input is the concatenation.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 256,
        dropout: float = 0.2,
        styles: int = 0,
        style_dim: int = 16,
        bar_inputs: bool = False,
        bar_dim: int = 16,
    ):
        super().__init__()
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.styles = styles
        self.bar_inputs = bar_inputs
        # One-hot encoding as a fixed identity lookup: a buffer, not a parameter (as the seed).
        self.register_buffer("one_hot", torch.eye(vocab_size), persistent=False)
        inputs = vocab_size
        if styles:
            self.style_embedding = nn.Parameter(torch.randn(styles, style_dim) * 0.1)
            inputs += style_dim
        if bar_inputs:
            self.bar_pos_embedding = nn.Embedding(MAX_BAR_LEN, bar_dim)
            self.bar_len_embedding = nn.Embedding(MAX_BAR_LEN + 1, bar_dim // 2)
            inputs += bar_dim + bar_dim // 2
        self.lstm = nn.LSTM(inputs, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden_size, vocab_size)

    def forward(
        self,
        tokens: torch.Tensor,
        h: torch.Tensor,
        c: torch.Tensor,
        style: torch.Tensor | None = None,
        bar_pos: torch.Tensor | None = None,
        bar_len: torch.Tensor | None = None,
    ):
        parts = [self.one_hot[tokens]]
        if self.styles:
            vector = style @ self.style_embedding  # [batch, style_dim]
            parts.append(vector[:, None, :].expand(-1, tokens.shape[1], -1))
        if self.bar_inputs:
            parts += [self.bar_pos_embedding(bar_pos), self.bar_len_embedding(bar_len)]
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
        y, (h_out, c_out) = self.lstm(x, (h, c))
        return self.dense(self.dropout(y)), h_out, c_out

    @property
    def conditioned(self) -> bool:
        """True when the model has the style and bar inputs (:data:`CONDITIONED_INPUT_NAMES`)."""
        return bool(self.styles) and self.bar_inputs

    def zero_state(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Initial (h, c), zeros of shape [1, batch, hidden]."""
        shape = (1, batch, self.hidden_size)
        return torch.zeros(shape), torch.zeros(shape)


def seed_parameter_count(vocab_size: int, hidden_size: int) -> int:
    """The seed's Keras count: LSTM 4*(H*(V+H)+H) plus Dense H*V+V (302,080 + 9,766 for V=38)."""
    return 4 * (hidden_size * (vocab_size + hidden_size) + hidden_size) + hidden_size * vocab_size + vocab_size


def expected_parameter_count(vocab_size: int, hidden_size: int) -> int:
    """The seed's formula plus PyTorch's second LSTM bias vector (b_hh: 4*H more)."""
    return seed_parameter_count(vocab_size, hidden_size) + 4 * hidden_size


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@contextlib.contextmanager
def quiet_torchscript_export():
    """Silence the exporter's deprecation notices: ``dynamo=False`` is on purpose (the
    TorchScript exporter handles these LSTMs with explicit state well, and the export's parity
    with torch is checked on every export: ``training.export``)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", category=DeprecationWarning, message="The feature will be removed")
        yield


def export_onnx(model: MelodyLSTM, path, opset: int = 17) -> None:
    """Write the step model with dynamic batch and time axes (TorchScript exporter)."""
    model.eval()
    with quiet_torchscript_export():
        # The exporter warns that LSTM batch sizes may break without h0/c0 inputs: ours has them.
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # shape checks in nn.LSTM
        _export(model, path, opset)


class _ConditionedGraph(nn.Module):
    """The exported signature of a conditioned model: (tokens, style, bar_pos, bar_len, h, c)."""

    def __init__(self, model: MelodyLSTM):
        super().__init__()
        self.model = model

    def forward(self, tokens, style, bar_pos, bar_len, h, c):
        return self.model(tokens, h, c, style, bar_pos, bar_len)


def _export(model: MelodyLSTM, path, opset: int) -> None:
    tokens = torch.zeros((1, 4), dtype=torch.int64)
    h, c = model.zero_state(1)
    graph, args, names, extra_axes = model, (tokens, h, c), INPUT_NAMES, {}
    if model.styles or model.bar_inputs:
        if not model.conditioned:
            raise ValueError("export needs both the style and the bar inputs, or neither")
        style = torch.zeros((1, model.styles))
        style[0, 0] = 1.0
        bars = torch.zeros((1, 4), dtype=torch.int64)
        graph, args, names = _ConditionedGraph(model), (tokens, style, bars, bars + 16, h, c), CONDITIONED_INPUT_NAMES
        extra_axes = {"style": {0: "batch"}, "bar_pos": {0: "batch", 1: "time"}, "bar_len": {0: "batch", 1: "time"}}
    torch.onnx.export(
        graph,
        args,
        str(path),
        input_names=names,
        output_names=OUTPUT_NAMES,
        dynamic_axes={
            **extra_axes,
            "tokens": {0: "batch", 1: "time"},
            "h": {1: "batch"},
            "c": {1: "batch"},
            "logits": {0: "batch", 1: "time"},
            "h_out": {1: "batch"},
            "c_out": {1: "batch"},
        },
        opset_version=opset,
        dynamo=False,
    )


def lstm_from_onnx(onnx_path) -> MelodyLSTM:
    """Rebuild the torch model from an exported ``.onnx`` (same weights; eval mode): the seed's
    graph, or the shared one with its style table and bar tables.

    ONNX stores LSTM gates as (input, output, forget, cell), PyTorch as (input, forget,
    cell, output); the dense layer is the MatMul by the transposed weight that feeds the Add
    giving ``logits``.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    lstm = next(n for n in graph.node if n.op_type == "LSTM")
    add = next(n for n in graph.node if n.op_type == "Add" and "logits" in n.output)
    matmul = next(n for n in graph.node if n.op_type == "MatMul" and n.output[0] in add.input)
    w, r, b = (weights[name][0] for name in lstm.input[1:4])
    hidden = r.shape[1]
    dense_w = weights[matmul.input[1]]
    dense_b = next(weights[name] for name in add.input if name in weights)

    def table(suffix):
        return next((v for k, v in weights.items() if k.endswith(suffix)), None)

    style, bar_pos, bar_len = (
        table("style_embedding"),
        table("bar_pos_embedding.weight"),
        table("bar_len_embedding.weight"),
    )
    order = [0, 2, 3, 1]

    def reorder(array):
        return torch.from_numpy(array.reshape(4, hidden, -1)[order].reshape(array.shape).copy())

    model = MelodyLSTM(
        dense_w.shape[1],
        hidden,
        dropout=0.0,
        styles=0 if style is None else style.shape[0],
        style_dim=16 if style is None else style.shape[1],
        bar_inputs=bar_pos is not None,
        bar_dim=16 if bar_pos is None else bar_pos.shape[1],
    )
    with torch.no_grad():
        model.lstm.weight_ih_l0.copy_(reorder(w))
        model.lstm.weight_hh_l0.copy_(reorder(r))
        model.lstm.bias_ih_l0.copy_(reorder(b[: 4 * hidden]))
        model.lstm.bias_hh_l0.copy_(reorder(b[4 * hidden :]))
        model.dense.weight.copy_(torch.from_numpy(dense_w.T.copy()))
        model.dense.bias.copy_(torch.from_numpy(dense_b.copy()))
        if style is not None:
            model.style_embedding.copy_(torch.from_numpy(style.copy()))
        if bar_pos is not None:
            model.bar_pos_embedding.weight.copy_(torch.from_numpy(bar_pos.copy()))
            model.bar_len_embedding.weight.copy_(torch.from_numpy(bar_len.copy()))
    return model.eval()


def fold_style(model: MelodyLSTM, style_index: int) -> MelodyLSTM:
    """The seed's plain LSTM (tokens in, no style or bar inputs) that computes exactly what the
    shared ``model`` computes for style ``style_index`` with no meter (bar_pos = bar_len = 0):
    those inputs are then constant, so their part of the LSTM's input product is folded into
    its input bias. A user's style fine-tunes from it (``livemelody train --base``). Raises
    :class:`ValueError` for a model without both inputs or a style index out of range."""
    if not model.conditioned or not 0 <= style_index < model.styles:
        raise ValueError(f"style {style_index} of a model with {model.styles} styles and bar inputs {model.bar_inputs}")
    vocab = model.vocab_size
    plain = MelodyLSTM(vocab, model.hidden_size, model.dropout.p)
    with torch.no_grad():
        constant = torch.cat(
            [
                model.style_embedding[style_index],
                model.bar_pos_embedding.weight[0],
                model.bar_len_embedding.weight[0],
            ]
        )
        weight = model.lstm.weight_ih_l0
        plain.lstm.weight_ih_l0.copy_(weight[:, :vocab])
        plain.lstm.weight_hh_l0.copy_(model.lstm.weight_hh_l0)
        plain.lstm.bias_ih_l0.copy_(model.lstm.bias_ih_l0 + weight[:, vocab:] @ constant)
        plain.lstm.bias_hh_l0.copy_(model.lstm.bias_hh_l0)
        plain.dense.load_state_dict(model.dense.state_dict())
    return plain.train(model.training)
