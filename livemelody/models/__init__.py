"""Model sessions on onnxruntime (no torch), their metadata schema and the installed-model registry."""
