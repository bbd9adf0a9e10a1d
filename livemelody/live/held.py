"""Keys held on the input, per channel, and the channel-mode messages that release them.

MIDI 1.0: All Notes Off (CC 123) ends every note on its channel, and so do All Sound Off
(CC 120) and the mode messages Omni Off/On and Mono/Poly On (CC 124-127), which imply it.
Keyboards (several Roland models) release their last key with All Notes Off instead of a
note-off, and DAWs send CC 123 / CC 120 on start and stop; either way the held keys are up.
"""

from __future__ import annotations

from livemelody.midi.spec import ALL_NOTES_OFF, ALL_SOUND_OFF, DRUM_CHANNEL

OMNI_OFF, OMNI_ON, MONO_ON, POLY_ON = 124, 125, 126, 127
RELEASING_CONTROLLERS = frozenset((ALL_SOUND_OFF, ALL_NOTES_OFF, OMNI_OFF, OMNI_ON, MONO_ON, POLY_ON))
"""Controller numbers whose message releases every held key of its channel (MIDI 1.0)."""


class HeldNotes:
    """The (channel 0-15, MIDI pitch) pairs whose key is down now."""

    def __init__(self) -> None:
        self._held: set[tuple[int, int]] = set()

    def press(self, channel: int, pitch: int) -> None:
        self._held.add((channel, pitch))

    def release(self, channel: int, pitch: int) -> None:
        self._held.discard((channel, pitch))

    def release_channel(self, channel: int) -> list[int]:
        """Forget every key held on ``channel``; returns their pitches, low to high."""
        pitches = sorted(p for c, p in self._held if c == channel)
        self._held -= {(channel, p) for p in pitches}
        return pitches

    def release_all(self) -> list[tuple[int, int]]:
        """Forget every held key; returns the (channel, pitch) pairs, in order."""
        held = sorted(self._held)
        self._held.clear()
        return held

    def __len__(self) -> int:
        return len(self._held)


def listens(config, channel: int) -> bool:
    """Is input on ``channel`` (0-15) part of the call under ``config`` (an EngineConfig)?
    One chosen channel, or all but the General MIDI drum channel 10 unless drums are included
    (a drum machine's hi-hats and kicks are not the melody)."""
    if config.input_channel is not None:
        return channel == config.input_channel
    return channel != DRUM_CHANNEL or config.include_drums
