"""Sound without a DAW: FluidSynth with a General MIDI soundfont, the player and the AI on two
instruments (``livemelody run --synth``, and the demo's WAV render).

FluidSynth is the distribution's program (Debian: ``fluidsynth`` and ``fluid-soundfont-gm``),
run as a child process: under JACK it opens a JACK MIDI input and connects its audio to the
system's playback ports (``-a jack -m jack -j``); under ALSA it opens an ALSA sequencer input.
The two timbres are set by FluidSynth's own start-up commands (``prog CHANNEL PROGRAM``, as
program changes on the two channels): the AI's channel plays :data:`AI_PROGRAM`, the MIDI thru
channel (the player's notes) :data:`PLAYER_PROGRAM`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path

import mido
import numpy as np

from livemelody.midi.spec import DRUM_CHANNEL

SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
)
"""Where distributions install a General MIDI soundfont, in order of preference."""
PLAYER_PROGRAM = 0
"""General MIDI program of the player's notes: Acoustic Grand Piano (GM 1, 0-based 0)."""
AI_PROGRAM = 11
"""General MIDI program of the AI: Vibraphone (GM 12, 0-based 11)."""
PROGRAM_NAMES = {PLAYER_PROGRAM: "piano", AI_PROGRAM: "vibraphone"}
CLIENT = "livemelody-synth"
"""FluidSynth's MIDI client name: the port livemelody's output connects to contains it."""
GAIN = 1.0
"""FluidSynth's master gain for live play (its default, 0.2, peaks near -28 dBFS for one melody line)."""
PEAK_DBFS = -3.0
"""The demo render's peak level (dBFS): a normal level, with headroom."""
START_SECONDS = 15.0
"""How long FluidSynth may take to load the soundfont and open its MIDI port."""
HINT = (
    "--synth needs FluidSynth and a General MIDI soundfont "
    "(Debian/Ubuntu: sudo apt install fluidsynth fluid-soundfont-gm), or play through a synth of your own with --out"
)


class SynthError(Exception):
    """FluidSynth is missing or could not start; one line for the user."""


def find_soundfont() -> Path | None:
    for name in SOUNDFONTS:
        if Path(name).is_file():
            return Path(name)
    return None


def audio_available() -> bool:
    """FluidSynth and a General MIDI soundfont are installed (never required)."""
    return shutil.which("fluidsynth") is not None and find_soundfont() is not None


def _drivers(api: str) -> list[str]:
    """FluidSynth's audio and MIDI driver options for livemelody's MIDI API."""
    if api == "jack":
        return ["-a", "jack", "-j", "-m", "jack", "-o", f"midi.jack.id={CLIENT}", "-o", f"audio.jack.id={CLIENT}"]
    if api == "alsa":
        return ["-m", "alsa_seq", "-o", f"midi.alsa_seq.id={CLIENT}"]
    if api == "coremidi":
        return ["-m", "coremidi", "-o", f"midi.coremidi.id={CLIENT}"]
    return ["-m", "winmidi"]


class Synth:
    """FluidSynth as a child process; :attr:`port` is its MIDI input once :meth:`start` returns.

    ``programs`` maps MIDI channel (0-15) -> General MIDI program (0-127). ``list_outputs()``
    returns livemelody's output port names (to find FluidSynth's input among them).
    """

    def __init__(self, api: str, programs: dict[int, int], list_outputs: Callable[[], list[str]]):
        self.api = api
        self.programs = dict(programs)
        self.list_outputs = list_outputs
        self.port: str | None = None
        self.process: subprocess.Popen | None = None
        self._folder: tempfile.TemporaryDirectory | None = None

    def start(self, timeout: float = START_SECONDS) -> Synth:
        """Start FluidSynth and wait for its MIDI input; raises SynthError (with the hint when
        FluidSynth or a soundfont is missing)."""
        soundfont = find_soundfont()
        if shutil.which("fluidsynth") is None or soundfont is None:
            raise SynthError(HINT)
        self._folder = tempfile.TemporaryDirectory(prefix="livemelody-synth-")
        commands = Path(self._folder.name) / "start.txt"
        commands.write_text("".join(f"prog {c} {p}\n" for c, p in sorted(self.programs.items())))
        log = Path(self._folder.name) / "fluidsynth.log"
        with open(log, "wb") as output:  # a file, never a pipe nobody drains
            self.process = subprocess.Popen(
                ["fluidsynth", "-is", *_drivers(self.api), "-g", str(GAIN), "-f", str(commands), str(soundfont)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [name for name in self.list_outputs() if CLIENT in name or "FLUID Synth" in name]
            if found:
                self.port = found[0]
                return self
            if self.process.poll() is not None:
                lines = log.read_text(errors="replace").strip().splitlines() or ["no output"]
                self.stop()
                raise SynthError(f"FluidSynth stopped while starting: {lines[-1]}")
            time.sleep(0.1)
        self.stop()
        raise SynthError(f"FluidSynth did not open its MIDI input in {timeout:g} s")

    def describe(self) -> str:
        """One line: which channel plays which instrument."""
        return ", ".join(
            f"channel {c + 1} {PROGRAM_NAMES.get(p, f'program {p}')}" for c, p in sorted(self.programs.items())
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


# ---- the demo's render --------------------------------------------------------------------


def two_timbres(source: Path, target: Path) -> None:
    """Copy the session file ``source`` to ``target`` with the player's track on a channel of
    its own and a program change at the start of each part: the player's notes on
    :data:`PLAYER_PROGRAM`, the AI's on :data:`AI_PROGRAM` (as ``run --synth`` plays them)."""
    midi = mido.MidiFile(source)
    names = [next((m.name for m in t if m.type == "track_name"), "") for t in midi.tracks]
    ai_channels = {
        m.channel for t, n in zip(midi.tracks, names) if n != "player" for m in t if hasattr(m, "channel")
    } or {0}
    player_channel = next(c for c in range(16) if c not in ai_channels and c != DRUM_CHANNEL)
    for track, name in zip(midi.tracks, names):
        if name == "player":
            for i, message in enumerate(track):
                if hasattr(message, "channel"):
                    track[i] = message.copy(channel=player_channel)
            track.insert(0, mido.Message("program_change", channel=player_channel, program=PLAYER_PROGRAM))
        elif name == "ai":
            for channel in sorted(ai_channels - {DRUM_CHANNEL}):
                track.insert(0, mido.Message("program_change", channel=channel, program=AI_PROGRAM))
    midi.save(target)


def normalize(source: Path, target: Path, peak_dbfs: float = PEAK_DBFS) -> float:
    """Write the 16-bit PCM WAV ``source`` to ``target`` scaled so its peak is ``peak_dbfs``;
    returns the gain applied (dB). A silent file is copied as it is. Raises OSError, wave.Error."""
    with wave.open(str(source), "rb") as reader:
        params = reader.getparams()
        if params.sampwidth != 2:
            raise wave.Error(f"{source}: expected 16-bit samples, got {8 * params.sampwidth}-bit")
        samples = np.frombuffer(reader.readframes(params.nframes), dtype="<i2").astype(np.float64)
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    gain = 1.0 if peak == 0 else 10 ** (peak_dbfs / 20) * 32767 / peak
    scaled = np.clip(np.round(samples * gain), -32768, 32767).astype("<i2")
    with wave.open(str(target), "wb") as writer:
        writer.setparams(params)
        writer.writeframes(scaled.tobytes())
    return 20 * np.log10(gain)


def render_wav(midi_path: Path, wav_path: Path, timeout: float = 120) -> Path | None:
    """Render the session with FluidSynth (``fluidsynth -F``), the player and the AI on two GM
    instruments (:func:`two_timbres`), the peak at :data:`PEAK_DBFS`; None when FluidSynth
    or a soundfont is missing, or the render fails."""
    soundfont = find_soundfont()
    if shutil.which("fluidsynth") is None or soundfont is None or not Path(midi_path).is_file():
        return None
    with tempfile.TemporaryDirectory(prefix="livemelody-render-") as folder:
        prepared, raw = Path(folder) / "render.mid", Path(folder) / "render.wav"
        try:
            two_timbres(Path(midi_path), prepared)
            subprocess.run(
                [
                    "fluidsynth",
                    "-ni",
                    "-q",
                    "-g",
                    str(GAIN),
                    "-F",
                    str(raw),
                    "-r",
                    "44100",
                    str(soundfont),
                    str(prepared),
                ],
                check=True,
                capture_output=True,
                timeout=timeout,
            )
            temporary = Path(str(wav_path) + ".part")
            normalize(raw, temporary)
            os.replace(temporary, wav_path)
        except (OSError, subprocess.SubprocessError, ValueError, EOFError, wave.Error):
            return None
    return Path(wav_path)
