"""Named MIDI numbers, so no magic numbers appear elsewhere (MIDI 1.0 specification)."""

# Control change numbers
SUSTAIN = 64
ALL_SOUND_OFF = 120
RESET_ALL_CONTROLLERS = 121
ALL_NOTES_OFF = 123

# System real-time (external clock)
CLOCKS_PER_QUARTER = 24
"""MIDI clock (0xF8) ticks per quarter note."""
SPP_STEPS_PER_UNIT = 1
"""Song Position Pointer counts 16th notes ("MIDI beats"): one unit per 16th step."""

MIDI_CHANNELS = 16
DRUM_CHANNEL = 9
"""Channel 10 in 1-based numbering (General MIDI percussion)."""
