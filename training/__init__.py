"""Offline side of livemelody: corpus preparation, training, evaluation, ONNX export.

Needs the ``train`` extra (torch, music21, onnx). Imports the runtime's encoder and metadata
schema (``livemelody.encoding``, ``livemelody.models.metadata``), never the reverse.
"""
