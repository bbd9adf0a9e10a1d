"""MIDI: files (here) and, later, ports. The only package that imports mido."""
