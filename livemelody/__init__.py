"""livemelody: a live AI-melody instrument (LSTM continuations, VAE variations) over MIDI.

The runtime depends on numpy, mido, python-rtmidi, onnxruntime and textual only; it never
imports torch or music21 (those belong to the offline ``training`` package).
"""

__version__ = "0.1.0"
