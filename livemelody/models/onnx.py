"""The one place that creates onnxruntime sessions, with live-friendly thread settings."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from livemelody.models.metadata import ModelError


def open_session(onnx_path: Path) -> ort.InferenceSession:
    """A CPU session with one intra-op and one inter-op thread.

    One thread: a step of these small models takes about 25 us, so a pool has nothing to share
    out, while its worker threads (which spin between runs by default) would compete with the
    engine's real-time thread for the cores. docs/BENCHMARKS.md measures the tail of both on
    an otherwise idle machine, where they are alike.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise ModelError(f"onnxruntime cannot load {onnx_path}: {str(exc).splitlines()[0]}") from None
