"""Shared fixtures: the tiny stand-in model, MIDI files written on the fly."""

from pathlib import Path

import mido
import pytest

from livemelody.events import Note
from livemelody.midi.files import MelodyFile, write_melodies
from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TINY_MODELS = FIXTURES / "models"
TINY_JSON = TINY_MODELS / "lstm_tiny.json"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def tiny_models(monkeypatch):
    """Make the tiny model installed as style "tiny" (searched before the shipped models)."""
    monkeypatch.setenv("LIVEMELODY_MODELS", str(TINY_MODELS))
    return TINY_MODELS


def write_midi(path: Path, notes: list[Note], bpm: float = 100, tpb: int = 480, numerator: int = 4) -> Path:
    frame = MelodyFile(
        [],
        tpb,
        [
            (0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))),
            (0, mido.MetaMessage("time_signature", numerator=numerator, denominator=4)),
        ],
    )
    write_melodies(path, frame, [("melody", notes)])
    return path


@pytest.fixture
def twinkle_mid(tmp_path) -> Path:
    return write_midi(tmp_path / "twinkle.mid", AH_VOUS_DIRAI_JE_MAMAN)


@pytest.fixture(autouse=True)
def private_user_folders(tmp_path_factory, monkeypatch):
    """Settings, sessions and remembered ports go to a temporary home, never the user's."""
    home = tmp_path_factory.mktemp("home")
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))
    return home
