"""`livemelody train NAME FOLDER...` on a new user's folder: 30 O'Neill tunes as MIDI files
(``tests/fixtures/style_folder``, written by ``python -m tools.make_style_folder``)."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from livemelody.encoding import Vocabulary, notes_to_tokens, to_reference
from livemelody.encoding.vocab import FIRST_PITCH_ID
from livemelody.midi.files import read_melody
from tests.conftest import FIXTURES, REPO
from training import folder_corpus

STYLE_FOLDER = FIXTURES / "style_folder"


@pytest.fixture
def user_folder(tmp_path):
    """The 30 tunes in nested folders, plus a damaged MIDI file, a too-short one and a text file."""
    folder = tmp_path / "mytunes"
    for i, path in enumerate(sorted(STYLE_FOLDER.glob("*.mid"))):
        target = folder / ("jigs" if i % 2 else "reels") / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00")
    short = read_melody(STYLE_FOLDER / sorted(os.listdir(STYLE_FOLDER))[0])
    from tests.conftest import write_midi

    write_midi(folder / "three_notes.mid", short.notes[:3])
    (folder / "notes.txt").write_text("not music")
    return folder


def test_folder_becomes_a_token_cache_that_says_what_it_dropped(user_folder, tmp_path):
    sources, ignored = folder_corpus.find_sources([user_folder])
    assert len(sources) == 32 and ignored == 1
    cache, reused = folder_corpus.load_cache(sources, tmp_path / "cache", workers=1)
    assert not reused and len(cache) == 30
    assert cache.summary["by_status"] == {"kept": 30, "unreadable": 1, "too_short": 1}
    lines = folder_corpus.dropped_lines(cache)
    assert any(line.startswith("dropped 1 unreadable: broken.mid (") for line in lines), lines
    assert any(line.startswith("dropped 1 too short: three_notes.mid") for line in lines), lines
    # the cached tokens are the runtime's encoding of the runtime's reading of each file
    index = cache.ids.index("reels/" + sorted(os.listdir(STYLE_FOLDER))[0])
    moved, _, shift = to_reference(folder_corpus.tidy_durations(read_melody(user_folder / cache.ids[index]).notes))
    expected = notes_to_tokens(moved, Vocabulary())
    assert cache.song_tokens(index).tolist() == expected and cache.songs["shift"][index] == shift
    assert isinstance(cache.tokens, np.memmap)
    again, reused = folder_corpus.load_cache(sources, tmp_path / "cache", workers=1)
    assert reused and again.folder == cache.folder


def test_stuck_notes_are_cut_and_long_silences_shrink_by_whole_bars():
    from livemelody.events import Note

    notes = [Note(60, 5, 4), Note(62, 9, 1090), Note(64, 109, 2), Note(65, 111, 2), Note(67, 200, 1)]
    tidy = folder_corpus.tidy_durations(notes)
    assert [n.duration for n in tidy] == [4, folder_corpus.MAX_NOTE_STEPS, 2, 2, 1]
    assert tidy[0].start == 0 and tidy[1].start == 4
    gaps = [b.start - a.end for a, b in zip(tidy, tidy[1:])]
    assert max(gaps) <= folder_corpus.MAX_REST_STEPS
    original_gaps = [109 - (9 + 16), 0, 200 - 113]
    assert [g % 16 for g in gaps[1:]] == [g % 16 for g in original_gaps]  # same place in the bar


def test_two_workers_write_the_same_cache_as_one(user_folder, tmp_path):
    sources, _ = folder_corpus.find_sources([user_folder])
    one = folder_corpus.build_cache(sources, tmp_path / "one", workers=1)
    two = folder_corpus.build_cache(sources, tmp_path / "two", workers=2)
    for name in ("tokens.u8", "songs.npy", "ids.txt", "report.tsv"):
        assert (one.folder / name).read_bytes() == (two.folder / name).read_bytes(), name


def test_a_folder_without_melodies_is_one_line(tmp_path, capsys):
    pytest.importorskip("torch")
    from livemelody.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["train", "mine", str(tmp_path / "empty")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"livemelody: error: no MIDI, ABC or MusicXML files under {tmp_path / 'empty'}"
    )
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.mid").write_bytes(b"not a MIDI file")
    assert main(["train", "mine", str(tmp_path / "junk"), "--work", str(tmp_path / "work")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"livemelody: error: no usable melody in {tmp_path / 'junk'}") and "\n" not in err
    assert main(["train", "Bad Name", str(tmp_path / "junk")]) == 2
    assert "style name 'Bad Name'" in capsys.readouterr().err


def test_split_is_song_level_deterministic_and_never_empty():
    from training.user_style import split_indices

    for n in (3, 5, 30, 301):
        ids = [f"song{i}.mid" for i in range(n)]
        split = split_indices("mine", ids)
        assert all(len(v) >= 1 for v in split.values())
        assert sorted(np.concatenate(list(split.values())).tolist()) == list(range(n))
        assert all((split_indices("mine", ids)[k] == v).all() for k, v in split.items())
    assert len(split_indices("mine", [f"{i}" for i in range(300)])["test"]) == 30


def _train(args, env_extra=None, timeout=300):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "livemelody", "train", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=timeout,
    )


TINY = ["--from-scratch", "--hidden-size", "32", "--no-vae", "--no-evidence", "--no-progress"]


@pytest.mark.slow
def test_train_installs_a_style_that_continue_and_styles_use(user_folder, tmp_path, capsys):
    pytest.importorskip("torch")
    from livemelody.cli import main
    from livemelody.paths import user_models_dir

    code = main(["train", "mine", str(user_folder), "--max-epochs", "2", "--vae-epochs", "1", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "32 files" in out and "30 songs kept" in out and "dropped 1 unreadable: broken.mid" in out
    assert "LSTM fine-tuned from deutsch" in out and "held-out test songs, style mine" in out
    assert "style evidence:" in out and "installed style 'mine'" in out
    installed = user_models_dir()
    names = sorted(p.name for p in installed.iterdir())
    assert names == sorted(
        ["lstm_mine.json", "lstm_mine.onnx", "lstm_mine_loss.png"]
        + [f"vae_mine_{part}.{ext}" for part in ("encoder", "decoder") for ext in ("json", "onnx")]
    )
    meta = json.loads((installed / "lstm_mine.json").read_text())
    assert meta["style"] == "mine" and meta["training"]["base"] == "deutsch"
    assert meta["data"]["split_sizes"] == {"test": 3, "valid": 3, "train": 24}
    test = meta["metrics"]["test"]
    assert test["lstm"]["nll_nats"] < test["uniform"]["nll_nats"] and "ngram_best" in test and "base" in test
    evidence = meta["metrics"]["style_evidence"]
    assert set(evidence["continuations_heard_as_mine"]) == {"mine", "deutsch", "han"}

    assert main(["styles"]) == 0
    listing = capsys.readouterr().out
    assert "lstm         mine" in listing and "vae_encoder  mine" in listing
    example = REPO / "examples" / "ah_vous_dirai_je_maman.mid"
    assert main(["continue", str(example), "-o", str(tmp_path / "out.mid"), "--style", "mine", "--seed", "1"]) == 0
    assert "in style mine" in capsys.readouterr().out
    assert main(["vary", str(example), "-o", str(tmp_path / "vary.mid"), "--style", "mine", "--seed", "1"]) == 0

    # never silently over an installed style; a shipped one counts too
    for name in ("mine", "deutsch"):
        assert main(["train", name, str(user_folder)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"livemelody: error: style {name!r} is already installed") and "--force" in err


@pytest.mark.slow
def test_ctrl_c_then_rerun_resumes_and_matches_an_uninterrupted_run(user_folder, tmp_path):
    pytest.importorskip("torch")
    common = [*TINY, "--patience", "50", "--seed", "3"]
    straight = _train(
        ["a", user_folder, "--max-epochs", "4", "--work", tmp_path / "w1", "--models", tmp_path / "m1", *common]
    )
    assert straight.returncode == 0, straight.stderr
    reference = json.loads((tmp_path / "m1" / "lstm_a.json").read_text())["training"]["history"]["valid"]

    args = ["a", user_folder, "--max-epochs", "200", "--work", tmp_path / "w2", "--models", tmp_path / "m2", *common]
    process = subprocess.Popen(
        [sys.executable, "-m", "livemelody", "train", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    for line in process.stdout:
        if line.startswith("epoch   2"):
            process.send_signal(signal.SIGINT)
            break
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted: run the same command again to resume" in out + err
    assert not (tmp_path / "m2" / "lstm_a.json").exists()

    resumed = _train(
        ["a", user_folder, "--max-epochs", "4", "--work", tmp_path / "w2", "--models", tmp_path / "m2", *common]
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout
    history = json.loads((tmp_path / "m2" / "lstm_a.json").read_text())["training"]["history"]["valid"]
    assert len(history) == 4
    # seeded: the interrupted and resumed run is the uninterrupted one (to float rounding)
    assert np.allclose(history, reference, rtol=1e-5), (history, reference)


@pytest.mark.slow
def test_torchrun_two_processes_give_the_one_process_model(user_folder, tmp_path):
    pytest.importorskip("torch")
    common = [*TINY, "--max-epochs", "3", "--patience", "50", "--batch-size", "8"]
    one = _train(["mine", user_folder, "--work", tmp_path / "w1", "--models", tmp_path / "m1", *common])
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "livemelody",
            "train",
            "mine",
            str(user_folder),
            "--work",
            str(tmp_path / "w2"),
            "--models",
            str(tmp_path / "m2"),
            *common,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert "2 process(es) on cpu" in two.stdout
    valid = {}
    for name, folder in (("one", "m1"), ("two", "m2")):
        meta = json.loads((tmp_path / folder / "lstm_mine.json").read_text())
        valid[name] = meta["training"]["history"]["valid"]
    assert len(valid["one"]) == len(valid["two"]) == 3
    # the same global batches, each split over the ranks: the same model up to float reordering and
    # dropout masks (drawn per rank), so the validation NLL agrees within 1% at every epoch
    assert np.allclose(valid["two"], valid["one"], rtol=0.01), valid
    assert valid["one"][-1] < valid["one"][0]  # it learnt something


def test_force_replaces_exactly_the_styles_own_files(tmp_path):
    pytest.importorskip("torch")
    from training.user_style import TrainError, install

    target, new = tmp_path / "models", tmp_path / "new"
    target.mkdir()
    new.mkdir()
    for name in ("lstm_mine.json", "lstm_mine.onnx", "vae_mine_encoder.json", "vae_mine_x_encoder.json"):
        (target / name).write_text("old")
    files = [new / "lstm_mine.json", new / "lstm_mine.onnx"]
    for path in files:
        path.write_text("new")
    with pytest.raises(TrainError, match="add --force"):
        install(files, target, force=False, name="mine")
    install(files, target, force=True, name="mine")
    assert sorted(p.name for p in target.iterdir()) == ["lstm_mine.json", "lstm_mine.onnx", "vae_mine_x_encoder.json"]
    assert (target / "lstm_mine.json").read_text() == "new"


def test_train_is_a_subcommand_the_runtime_finds_by_entry_point():
    from livemelody.cli import build_parser

    help_text = build_parser().format_help()
    assert "train" in help_text and "train a style of your own" in help_text
    import livemelody.cli

    source = open(livemelody.cli.__file__).read()
    assert "import training" not in source and "from training" not in source


def test_abc_tunes_and_musicxml_are_read_through_music21(tmp_path):
    music21 = pytest.importorskip("music21")
    from training.corpus import corpus_folder, split_tunes

    tunes = split_tunes((corpus_folder() / "han1.abc").read_text(encoding="latin-1"))[:2]
    (tmp_path / "two.abc").write_text("".join(text for _, text in tunes), encoding="latin-1")
    chorale = Path(str(music21.corpus.getWork("bach/bwv66.6")))
    shutil.copy(chorale, tmp_path / f"chorale{chorale.suffix}")
    sources, _ = folder_corpus.find_sources([tmp_path])
    results = {s.file_id: folder_corpus.prepare_file(s) for s in sources}
    abc = results["two.abc"]
    assert abc["status"] == "kept" and [song[0] for song in abc["songs"]] == [f"two.abc:{x}" for x, _ in tunes]
    xml = results[f"chorale{chorale.suffix}"]
    assert xml["status"] == "kept" and len(xml["songs"]) == 1
    soprano = max(p.midi for p in music21.converter.parse(chorale).parts[0].pitches)
    tokens = list(xml["songs"][0][2])
    highest = max(tokens) - FIRST_PITCH_ID + Vocabulary().low
    assert abs(highest - soprano) <= 6  # the soprano (top line), moved to C major / A minor by at most 6


def test_base_may_name_any_shipped_style_and_nothing_else():
    """--base: every corpus style shipped with an LSTM and a VAE (the shared LSTM plays all five)."""
    pytest.importorskip("torch")
    from training.user_style import base_styles

    assert base_styles() == ("deutsch", "han", "irish", "scottish", "chorale")
