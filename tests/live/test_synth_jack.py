"""--synth over a real JACK server: FluidSynth's MIDI input takes livemelody's output (the AI
and the MIDI thru of the player's notes), its audio goes to the system's playback ports."""

import shutil
import subprocess

import pytest

from livemelody.config import EngineConfig
from livemelody.live.loop import wait_for
from livemelody.live.process import EngineHandle, EngineOptions
from livemelody.live.synth import AI_PROGRAM, CLIENT, PLAYER_PROGRAM, Synth, find_soundfont
from livemelody.midi.ports import list_ports

pytestmark = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or find_soundfont() is None, reason="FluidSynth or a GM soundfont missing"
)


def connections(jack) -> str:
    return subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True, env=jack.env()).stdout


def test_synth_plays_livemelodys_output_with_two_instruments(jack, player, tmp_path):
    config = EngineConfig(style="deutsch", bpm=120.0, thru=True, output_channel=0, thru_channel=1)
    synth = Synth("jack", {0: AI_PROGRAM, 1: PLAYER_PROGRAM}, lambda: list_ports("jack")[1]).start()
    try:
        assert CLIENT in synth.port and "channel 1 vibraphone, channel 2 piano" == synth.describe()
        wired = connections(jack)
        assert f"{CLIENT}:left\n   system:playback_1" in wired  # its audio reaches the speakers
        options = EngineOptions(config=config, api="jack", input=player.port, output=synth.port, record=None, seed=5)
        handle = EngineHandle(options).start()
        try:
            assert wait_for(lambda: handle.snapshot is not None, 5)
            assert wait_for(lambda: f"   {synth.port}" in connections(jack), 5)  # livemelody's output -> FluidSynth
            player.send([0x90, 60, 100])
            player.send([0x80, 60, 0])
            assert synth.process.poll() is None  # still playing
        finally:
            handle.stop()
    finally:
        synth.stop()
    assert synth.process.poll() is not None  # stopped with livemelody
