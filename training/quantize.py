"""Dynamic int8 quantization of an exported melody LSTM, for the runtime's per-step cost.

onnxruntime's dynamic quantization (``onnxruntime.quantization.quantize_dynamic``, QInt8
weights, activations quantized per call; https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html)
turns the LSTM into ``DynamicQuantizeLSTM`` and the dense layer into ``MatMulInteger``.
Measured on the shipped deutsch model at one thread: a step 34 -> 20 us (p50), held-out test
NLL 0.7786 -> 0.7792 nats/step (+0.08%); han 1.1099 -> 1.1105.

The float model stays beside it as ``<name>.fp32.onnx`` (the source of the weights that
fine-tuning and ONNX/torch parity read, :func:`source_onnx`); ``<name>.onnx``, named by the
metadata and hash-checked by the runtime, becomes the int8 graph. The metadata records the
method, the source's hash and, for corpus styles, the held-out test figures of both graphs and
how far apart their distributions are (``metrics["test"]["lstm"]`` is the int8
graph's, as shipped; ``metrics["quantization"]["test_source"]`` the float one's).

    python -m training.quantize exported_models/lstm_deutsch.json exported_models/lstm_han.json

Quantizing the same source twice gives the same bytes (checked by the tests), so the
shipped files are reproduced by training with the same seed, exporting, then this command.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from livemelody.models.metadata import ModelMetadata, file_sha256, load_metadata

METHOD = "onnxruntime quantize_dynamic, QInt8 weights, LSTM + MatMul"


def source_onnx(json_path: Path, metadata: ModelMetadata | None = None) -> Path:
    """The float ONNX graph of an exported LSTM: ``<name>.fp32.onnx`` once quantized, else
    the graph the metadata names. Fine-tuning and parity read their weights from it."""
    metadata = metadata or load_metadata(json_path)
    quantization = metadata.metrics.get("quantization")
    name = quantization["source_onnx_file"] if quantization else metadata.onnx_file
    return Path(json_path).with_name(name)


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _logits(session, tokens: np.ndarray, hidden: int) -> np.ndarray:
    zero = np.zeros((1, 1, hidden), np.float32)
    return session.run(["logits"], {"tokens": tokens[None, :], "h": zero, "c": zero})[0][0]


def _probabilities(session, tokens: np.ndarray, hidden: int) -> np.ndarray:
    logits = _logits(session, tokens, hidden).astype(np.float64)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True)


def held_out_figures(source: Path, quantized: Path, meta: ModelMetadata) -> tuple[dict, dict, dict]:
    """(float graph's, int8 graph's test figures (:mod:`training.metrics`), how far apart they
    are) on the test songs of ``meta.style``. Apart: the mean KL divergence of the int8 graph's
    next-token distribution from the float one's (nats/step) and the largest difference of one
    probability at one step."""
    from livemelody.encoding import Vocabulary
    from training.dataset import load_songs
    from training.metrics import MetricAccumulator

    hidden = int(meta.dimensions["hidden_size"])
    splits, _ = load_songs(meta.style, Vocabulary.from_symbols(meta.encoding.symbols))
    sessions = _session(source), _session(quantized)
    accumulators = MetricAccumulator(), MetricAccumulator()
    kl_sum, steps, worst = 0.0, 0, 0.0
    for song in splits["test"]:
        sequence = np.asarray(song.sequence, np.int64)
        p, q = (_probabilities(s, sequence[:-1], hidden) for s in sessions)
        for accumulator, probs in zip(accumulators, (p, q)):
            accumulator.add(probs, sequence[1:])
        kl_sum += float((p * (np.log(np.maximum(p, 1e-12)) - np.log(np.maximum(q, 1e-12)))).sum())
        steps += len(p)
        worst = max(worst, float(np.abs(p - q).max()))
    apart = {"mean_kl_nats_per_step": kl_sum / max(steps, 1), "probability_max_abs": worst}
    return accumulators[0].result(), accumulators[1].result(), apart


def quantize_lstm(json_path: Path, evaluate: bool = True) -> ModelMetadata:
    """Quantize the LSTM of ``json_path`` in place (from its float source when already
    quantized) and rewrite its metadata; returns the new metadata.

    ``evaluate``: also score both graphs on the style's held-out test songs (a corpus style:
    its corpus must be loadable by :func:`training.dataset.load_songs`).
    Raises ``ValueError`` for a model that is not an LSTM.
    """
    from onnxruntime import __version__ as ort_version
    from onnxruntime.quantization import QuantType, quantize_dynamic

    json_path = Path(json_path)
    meta = load_metadata(json_path)
    if meta.kind != "lstm":
        raise ValueError(f"{json_path} is a {meta.kind} model; only LSTMs are quantized")
    target = json_path.with_name(meta.onnx_file)
    source = source_onnx(json_path, meta)
    if source == target:
        source = target.with_name(f"{target.stem}.fp32.onnx")
        shutil.copyfile(target, source)
    quantize_dynamic(str(source), str(target), op_types_to_quantize=["LSTM", "MatMul"], weight_type=QuantType.QInt8)
    quantization = {
        "method": METHOD,
        "onnxruntime": ort_version,
        "source_onnx_file": source.name,
        "source_onnx_sha256": file_sha256(source),
    }
    metrics = dict(meta.metrics)
    if evaluate:
        float_figures, int8_figures, apart = held_out_figures(source, target, meta)
        quantization.update(test_source=float_figures, test_apart=apart)
        test = metrics["test"] = {**metrics.get("test", {}), "lstm": int8_figures}
        if "ngram_best" in test:  # the figure derived from the LSTM's, as training.train_lstm writes it
            test["lstm_nll_reduction_vs_best_ngram"] = 1 - int8_figures["nll_nats"] / test["ngram_best"]["nll_nats"]
    metrics["quantization"] = quantization
    meta = replace(meta, metrics=metrics, onnx_sha256=file_sha256(target))
    meta.save(json_path)
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path, help="LSTM metadata files (lstm_STYLE.json)")
    parser.add_argument("--no-evaluate", action="store_true", help="skip the held-out test figures")
    args = parser.parse_args(argv)
    for json_path in args.models:
        meta = quantize_lstm(json_path, evaluate=not args.no_evaluate)
        q, test = meta.metrics["quantization"], meta.metrics.get("test", {})
        line = f"{json_path}: int8 graph written, float source {q['source_onnx_file']}"
        if "test_source" in q:
            line += (
                f"; test NLL {q['test_source']['nll_nats']:.4f} -> {test['lstm']['nll_nats']:.4f} nats/step, "
                f"mean KL {q['test_apart']['mean_kl_nats_per_step']:.5f} nats/step"
            )
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
