"""MIDI 1.0 numbers and the raw messages built from them (lists of ints), in one place.

Source: the MIDI 1.0 Detailed Specification (MIDI Manufacturers Association), tables I-V.
Channels are 0-15 here (1-16 where a person reads them); data bytes 0-127.
"""

from __future__ import annotations

from collections.abc import Iterable

# Channel voice message status bytes (high nibble; the channel is the low nibble)
NOTE_OFF = 0x80
NOTE_ON = 0x90
CONTROL_CHANGE = 0xB0

# Control change numbers
SUSTAIN = 64
ALL_SOUND_OFF = 120
RESET_ALL_CONTROLLERS = 121
ALL_NOTES_OFF = 123

# System common and system real-time status bytes (external clock)
SONG_POSITION = 0xF2
CLOCK = 0xF8
START = 0xFA
CONTINUE = 0xFB
STOP = 0xFC
CLOCKS_PER_QUARTER = 24
"""MIDI clock (0xF8) ticks per quarter note."""
SPP_STEPS_PER_UNIT = 1
"""Song Position Pointer counts 16th notes ("MIDI beats"): one unit per 16th step."""

MIDI_CHANNELS = 16
DRUM_CHANNEL = 9
"""Channel 10 in 1-based numbering (General MIDI percussion)."""


def note_on(channel: int, pitch: int, velocity: int) -> list[int]:
    return [NOTE_ON | channel, pitch, velocity]


def note_off(channel: int, pitch: int) -> list[int]:
    return [NOTE_OFF | channel, pitch, 0]


def control_change(channel: int, number: int, value: int) -> list[int]:
    return [CONTROL_CHANGE | channel, number, value]


def panic_messages(channels: Iterable[int], sounding: Iterable[tuple[int, int]] | None = None) -> list[list[int]]:
    """Everything that silences a synth on ``channels``: a note-off for each (channel, pitch)
    in ``sounding`` (every pitch of every channel when None: the sender does not know what
    sounds), then sustain off (CC 64 = 0), All Notes Off (CC 123) and All Sound Off (CC 120).
    CC 123 alone does not release notes held by the sustain pedal (MIDI 1.0, channel mode
    messages), hence sustain off first."""
    channels = sorted(set(channels))
    if sounding is None:
        offs = [note_off(channel, pitch) for channel in channels for pitch in range(128)]
    else:
        offs = [note_off(channel, pitch) for channel, pitch in sounding]
    controls = [control_change(c, number, 0) for c in channels for number in (SUSTAIN, ALL_NOTES_OFF, ALL_SOUND_OFF)]
    return offs + controls
