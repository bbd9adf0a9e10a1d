"""Detached playing read as meant (livemelody.encoding.detached), in files and live, for the
LSTM's tokens and the VAE's events."""

import random

import mido
import pytest

from livemelody.cli import main
from livemelody.encoding.detached import release_step
from livemelody.encoding.melody import notes_to_tokens
from livemelody.encoding.phrase import notes_to_events
from livemelody.encoding.vocab import Vocabulary
from livemelody.events import Note
from livemelody.live.call import CallTracker
from livemelody.midi.files import read_melody
from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN as TWINKLE

TPB = 480
STEP_TICKS = TPB // 4
BPM = 100
JITTER_TICKS = round(0.010 / (60 / BPM / TPB))  # 10 ms at 100 BPM = 8 ticks
VOCAB = Vocabulary()


def performed(notes, gate=0.9, jitter=JITTER_TICKS, seed=0):
    """(onset tick, release tick, pitch, velocity): each note held for ``gate`` of its length,
    onsets and releases moved by up to +-``jitter`` ticks."""
    rng = random.Random(seed)
    played = []
    for n in notes:
        on = max(0, n.start * STEP_TICKS + rng.randint(-jitter, jitter))
        off = n.start * STEP_TICKS + round(gate * n.duration * STEP_TICKS) + rng.randint(-jitter, jitter)
        played.append((on, max(on + 1, off), n.pitch, n.velocity))
    return played


def write(path, played):
    events = []
    for on, off, pitch, velocity in played:
        events.append((on, 1, mido.Message("note_on", note=pitch, velocity=velocity)))
        events.append((off, 0, mido.Message("note_off", note=pitch)))
    events.sort(key=lambda e: (e[0], e[1]))
    midi = mido.MidiFile(ticks_per_beat=TPB)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM))])
    tick = 0
    for at, _, m in events:
        track.append(m.copy(time=at - tick))
        tick = at
    midi.tracks.append(track)
    midi.save(path)
    return path


def test_the_rule():
    assert [release_step(s) for s in (0, 4, 8)] == [0, 4, 8]  # quantised input is kept
    assert release_step(7.2) == 8  # a half note at 90% gate
    assert release_step(4.06) == 4  # a legato note released 9 ms late at 100 BPM
    assert release_step(14.4) == 15  # a whole note at 90%: 1.6 steps of silence, a 16th rest is left


@pytest.mark.parametrize("seed", range(5))
def test_a_detached_humanised_file_gives_the_legato_tokens_and_events(tmp_path, seed):
    legato = read_melody(write(tmp_path / "legato.mid", performed(TWINKLE, gate=1.0, jitter=0))).notes
    detached = read_melody(write(tmp_path / "detached.mid", performed(TWINKLE, seed=seed))).notes
    assert [(n.pitch, n.start, n.duration) for n in detached] == [(n.pitch, n.start, n.duration) for n in legato]
    assert notes_to_tokens(detached, VOCAB) == notes_to_tokens(legato, VOCAB)
    assert notes_to_events(detached) == notes_to_events(legato)


def test_a_written_16th_rest_stays_a_rest(tmp_path):
    notes = [Note(60, 0, 3), Note(62, 4, 4)]  # a dotted 8th, a 16th rest, a quarter
    melody = read_melody(write(tmp_path / "r.mid", performed(notes, gate=1.0, jitter=0))).notes
    assert [(n.start, n.duration) for n in melody] == [(0, 3), (4, 4)]


def live_tokens(played, steps):
    """Tokens of a CallTracker fed ``played`` (ticks) in time: note-ons at the nearest step,
    note-offs at their fractional step, each step finalized half a step after it."""
    tracker = CallTracker()
    events = [(on / STEP_TICKS, "on", pitch, velocity) for on, _, pitch, velocity in played]
    events += [(off / STEP_TICKS, "off", pitch, 0) for _, off, pitch, _ in played]
    events += [(s + 0.5, "final", 0, 0) for s in range(steps)]
    tokens = []
    for at, kind, pitch, velocity in sorted(events, key=lambda e: e[0]):
        if kind == "on":
            tracker.note_on(round(at), pitch, velocity)
        elif kind == "off":
            tracker.note_off(at, pitch)
        elif tracker.first_step is not None:
            token = tracker.finalize(round(at - 0.5))
            tokens.append(VOCAB.pitch_id(token.pitch) if token.kind == "note" else token.token_id)
    return tokens


@pytest.mark.parametrize("seed", range(5))
def test_live_a_detached_call_gives_the_file_encoders_tokens(seed):
    expected = notes_to_tokens(TWINKLE, VOCAB)
    assert live_tokens(performed(TWINKLE, seed=seed), len(expected)) == expected
    assert live_tokens(performed(TWINKLE, gate=1.0, jitter=0), len(expected)) == expected


def test_vary_amount_0_of_a_detached_phrase_returns_its_notes(tmp_path, capsys):
    path = write(tmp_path / "detached.mid", performed(TWINKLE, seed=3))
    out = tmp_path / "v.mid"
    assert main(["vary", str(path), "-o", str(out), "--style", "deutsch", "--amount", "0", "--count", "1"]) == 0
    capsys.readouterr()
    tracks = mido.MidiFile(out).tracks

    def notes(track):
        tick, found = 0, []
        for m in track:
            tick += m.time
            if m.type == "note_on" and m.velocity > 0:
                found.append((m.note, tick))
        return [(p, t - found[0][1]) for p, t in found]

    assert notes(tracks[1]) == [(n.pitch, n.start * STEP_TICKS) for n in TWINKLE]
    assert notes(tracks[2]) == notes(tracks[1])  # the reconstruction of the detached phrase is the tune


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_live_engine_reads_a_detached_call_as_its_legato_notes(seed):
    """Through EngineCore (stamps in seconds, as from a port): the call's notes are the
    written ones, not shortened by the gate or moved by the jitter."""
    from livemelody.config import EngineConfig
    from livemelody.live.engine import EngineCore
    from livemelody.live.scheduler import Scheduler
    from livemelody.models.lstm import LstmSession
    from tests.conftest import TINY_JSON

    bpm, call = 120.0, [Note(n.pitch, n.start + 16, n.duration, n.velocity) for n in TWINKLE[:7]]
    seconds_per_tick = 60 / bpm / TPB
    sent = []
    core = EngineCore(
        EngineConfig(style="tiny", bpm=bpm),
        {"tiny": LstmSession(TINY_JSON)},
        Scheduler(sent.append, lambda: 0.0),
        0.0,
        seed=1,
    )
    events = []
    for on, off, pitch, velocity in performed(call, seed=seed):
        events.append((on * seconds_per_tick, [0x90, pitch, velocity]))
        events.append((off * seconds_per_tick, [0x80, pitch, 0]))
    events.sort(key=lambda e: e[0])
    now = 0.0
    while now < 16.0 and core.turn_count == 0:
        now = round(now + 0.002, 6)
        while events and events[0][0] <= now:
            core.handle(*events.pop(0))
        core.advance(now)
    heard = [(n.pitch, n.start, n.end) for n in core.call.notes]  # the call that was answered
    assert heard == [(n.pitch, n.start, n.end) for n in call]
