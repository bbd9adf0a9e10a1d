"""The `livemelody` command: continue, styles, and one-line errors for bad input."""

import mido
import pytest

from livemelody.cli import main
from livemelody.midi.files import read_melody


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_continue_writes_primer_and_continuation(tiny_models, twinkle_mid, tmp_path, capsys):
    out = tmp_path / "out.mid"
    code, text, err = run(
        capsys, "continue", str(twinkle_mid), "-o", str(out), "--style", "tiny", "--bars", "2", "--seed", "7"
    )
    assert code == 0, err
    midi = mido.MidiFile(out)
    assert len(midi.tracks) == 3 and "in C" in text
    answer = [m for m in midi.tracks[2] if m.type == "note_on"]
    assert answer, "the continuation track has notes"
    ticks = sum(m.time for m in midi.tracks[2])
    assert 64 * 120 < ticks <= 96 * 120  # continuation ends within 2 bars after the 4-bar primer (120 ticks/step)


def test_same_seed_same_file(tiny_models, twinkle_mid, tmp_path, capsys):
    paths = []
    for name in ("a.mid", "b.mid"):
        run(capsys, "continue", str(twinkle_mid), "-o", str(tmp_path / name), "--style", "tiny", "--seed", "1")
        paths.append((tmp_path / name).read_bytes())
    assert paths[0] == paths[1]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--temperature", "-1"], "must be >= 0"),
        (["--temperature", "nan"], "not a finite number"),
        (["--temperature", "hot"], "not a number"),
        (["--top-p", "0"], "must be > 0"),
        (["--top-p", "1.5"], "must be <= 1"),
        (["--bars", "0"], "must be >= 1"),
        (["--bars", "2.5"], "not a whole number"),
        (["--style", "klingon"], "no lstm model for style 'klingon'"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(tiny_models, twinkle_mid, tmp_path, capsys, args, expected):
    code, _, err = run(capsys, "continue", str(twinkle_mid), "-o", str(tmp_path / "o.mid"), "--style", "tiny", *args)
    assert code == 2
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("content", [None, b"", b"MThd garbage", bytes(range(256))])
def test_bad_files_give_one_line_and_exit_2(tiny_models, tmp_path, capsys, content):
    path = tmp_path / "in.mid"
    if content is not None:
        path.write_bytes(content)
    code, _, err = run(capsys, "continue", str(path), "-o", str(tmp_path / "o.mid"), "--style", "tiny")
    assert code == 2 and err.startswith("livemelody: error:") and err.count("\n") == 1


def test_unwritable_output_is_one_line(tiny_models, twinkle_mid, tmp_path, capsys):
    code, _, err = run(
        capsys, "continue", str(twinkle_mid), "-o", str(tmp_path / "no" / "such" / "dir.mid"), "--style", "tiny"
    )
    assert code == 2 and "cannot write" in err


def test_styles_lists_installed_models(tiny_models, capsys):
    code, out, _ = run(capsys, "styles")
    assert code == 0 and "tiny" in out and "deutsch" in out and "han" in out


def test_primer_written_back_is_the_quantised_input(tiny_models, twinkle_mid, tmp_path, capsys):
    out = tmp_path / "o.mid"
    run(capsys, "continue", str(twinkle_mid), "-o", str(out), "--style", "tiny", "--seed", "2")
    written = mido.MidiFile(out)
    primer = [m.note for m in written.tracks[1] if m.type == "note_on"]
    assert primer == [n.pitch for n in read_melody(twinkle_mid).notes]


def test_no_subcommand_opens_the_dashboard_and_help_still_works(monkeypatch, capsys):
    import livemelody.cli as cli

    seen = []
    monkeypatch.setitem(cli.COMMANDS, "dashboard", lambda args: seen.append(args.command) or 0)
    assert cli.main([]) == 0 and seen == ["dashboard"]
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "demo" in capsys.readouterr().out


def test_command_line_overrides_the_settings_file(tiny_models, capsys):
    from livemelody.cli import build_parser, resolve_settings
    from livemelody.config import EngineConfig
    from livemelody.settings import Settings, save_settings

    save_settings(Settings(EngineConfig(style="tiny", temperature=0.5, bpm=90, metronome=True)))
    _, config = resolve_settings(build_parser().parse_args(["run", "--bpm", "120", "--channel", "2"]))
    assert (config.style, config.temperature, config.bpm, config.metronome, config.input_channel) == (
        "tiny",
        0.5,
        120,
        True,
        1,
    )


def test_a_broken_settings_file_warns_in_one_line_and_uses_the_defaults(tiny_models, capsys):
    from livemelody.cli import build_parser, resolve_settings
    from livemelody.config import EngineConfig
    from livemelody.settings import settings_path

    settings_path().parent.mkdir(parents=True)
    settings_path().write_text("[engine]\nstyle = 'gone'\ntemperature = [")
    _, config = resolve_settings(build_parser().parse_args(["run"]))
    err = capsys.readouterr().err
    assert config == EngineConfig() and err.count("\n") == 1 and "not valid TOML" in err


def test_a_saved_style_that_is_gone_falls_back_to_deutsch(tiny_models, capsys):
    from livemelody.cli import build_parser, resolve_settings
    from livemelody.settings import settings_path

    settings_path().parent.mkdir(parents=True)
    settings_path().write_text("[engine]\nstyle = 'klingon'\n")
    _, config = resolve_settings(build_parser().parse_args(["run"]))
    assert config.style == "deutsch" and "not installed" in capsys.readouterr().err


def test_headless_demo_answers_and_saves_the_session(tiny_models, tmp_path, capsys):
    session = tmp_path / "demo.mid"
    code, out, err = run(
        capsys,
        "demo",
        "--headless",
        "--turns",
        "1",
        "--style",
        "tiny",
        "--bpm",
        "240",
        "--no-audio",
        "--record",
        str(session),
    )
    assert code == 0, err
    assert "(14 notes) in C -> continue tiny" in out and "session saved" in out
    tracks = mido.MidiFile(session).tracks
    assert [m for m in tracks[1] if m.type == "note_on"] and [m for m in tracks[2] if m.type == "note_on"]


def test_vary_writes_the_original_then_each_variation_on_its_own_track(tiny_models, twinkle_mid, tmp_path, capsys):
    out = tmp_path / "v.mid"
    code, text, err = run(
        capsys,
        "vary",
        str(twinkle_mid),
        "-o",
        str(out),
        "--style",
        "tiny",
        "--amount",
        "2",
        "--count",
        "3",
        "--seed",
        "1",
    )
    assert code == 0, err
    midi = mido.MidiFile(out)
    assert len(midi.tracks) == 1 + 4 and "3 variations" in text and "one after another" in text
    names = [next(m.name for m in t if m.type == "track_name") for t in midi.tracks[1:]]
    assert names[0] == "original" and names[1].startswith("variation 1")
    original = [m.note for m in midi.tracks[1] if m.type == "note_on"]
    assert original == [n.pitch for n in read_melody(twinkle_mid).notes]
    block = 64 * 120  # the 4-bar primer: each variation starts 4 bars (64 steps of 120 ticks) after the previous
    for k, track in enumerate(midi.tracks[2:], 1):
        first_on = next(i for i, m in enumerate(track) if m.type == "note_on")
        assert sum(m.time for m in track[: first_on + 1]) >= k * block


def test_vary_same_seed_same_file(tiny_models, twinkle_mid, tmp_path, capsys):
    files = []
    for name in ("a.mid", "b.mid"):
        run(
            capsys,
            "vary",
            str(twinkle_mid),
            "-o",
            str(tmp_path / name),
            "--style",
            "tiny",
            "--amount",
            "3",
            "--seed",
            "4",
        )
        files.append((tmp_path / name).read_bytes())
    assert files[0] == files[1]


def test_morph_writes_the_path(tiny_models, twinkle_mid, tmp_path, capsys):
    out = tmp_path / "m.mid"
    code, text, err = run(
        capsys,
        "morph",
        str(twinkle_mid),
        str(twinkle_mid),
        "-o",
        str(out),
        "--style",
        "tiny",
        "--steps",
        "4",
        "--method",
        "linear",
    )
    assert code == 0, err
    names = [next(m.name for m in t if m.type == "track_name") for t in mido.MidiFile(out).tracks[1:]]
    assert names == ["linear t=0.00", "linear t=0.33", "linear t=0.67", "linear t=1.00"] and "4 phrases" in text


@pytest.mark.parametrize(
    "args, expected",
    [
        (["vary", "--amount", "-1"], "must be >= 0"),
        (["vary", "--amount", "inf"], "not a finite number"),
        (["vary", "--count", "0"], "must be >= 1"),
        (["vary", "--count", "many"], "not a whole number"),
        (["vary", "--style", "klingon"], "no vae_encoder model for style 'klingon'"),
        (["morph", "--steps", "1"], "must be >= 2"),
        (["morph", "--method", "cubic"], "invalid choice"),
        (["morph", "--style", "klingon"], "no vae_encoder model for style 'klingon'"),
    ],
)
def test_vary_and_morph_bad_options_give_one_line_and_exit_2(
    tiny_models, twinkle_mid, tmp_path, capsys, args, expected
):
    command, *options = args
    inputs = [str(twinkle_mid)] * (2 if command == "morph" else 1)
    code, _, err = run(capsys, command, *inputs, "-o", str(tmp_path / "o.mid"), "--style", "tiny", *options)
    assert code == 2
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("command", ["vary", "morph"])
@pytest.mark.parametrize("content", [None, b"", b"MThd garbage"])
def test_vary_and_morph_bad_files_give_one_line_and_exit_2(
    tiny_models, twinkle_mid, tmp_path, capsys, command, content
):
    path = tmp_path / "in.mid"
    if content is not None:
        path.write_bytes(content)
    inputs = [str(path)] if command == "vary" else [str(twinkle_mid), str(path)]
    code, _, err = run(capsys, command, *inputs, "-o", str(tmp_path / "o.mid"), "--style", "tiny")
    assert code == 2 and err.startswith("livemelody: error:") and err.count("\n") == 1


def test_help_says_how_variations_are_written(capsys):
    with pytest.raises(SystemExit):
        main(["vary", "--help"])
    assert "one after another" in capsys.readouterr().out


def test_vary_of_a_long_melody_varies_and_writes_its_first_16_events(tiny_models, tmp_path, capsys):
    from livemelody.events import Note
    from tests.conftest import write_midi

    long = write_midi(tmp_path / "long.mid", [Note(60 + (i % 5), 4 * i, 4) for i in range(24)])
    code, text, err = run(capsys, "vary", str(long), "-o", str(tmp_path / "o.mid"), "--style", "tiny", "--count", "1")
    assert code == 0, err
    assert "the first 16 of 24 notes and rests varied" in text
    assert len([m for m in mido.MidiFile(tmp_path / "o.mid").tracks[1] if m.type == "note_on"]) == 16


def test_synth_without_fluidsynth_is_one_line_with_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # FluidSynth not on the path
    code, out, err = run(capsys, "run", "--synth", "--virtual", "--api", "jack", "--no-record")
    assert code == 2 and err.count("\n") == 1
    assert "livemelody: error: --synth needs FluidSynth" in err and "apt install fluidsynth fluid-soundfont-gm" in err


def test_synth_is_the_output_so_out_is_refused(capsys):
    code, out, err = run(capsys, "run", "--synth", "--out", "somewhere", "--api", "jack", "--no-record")
    assert code == 2 and "leave out --out" in err


def test_a_reader_that_leaves_early_gets_no_traceback():
    import subprocess
    import sys

    # `true` exits without reading: every write livemelody makes meets a closed pipe
    result = subprocess.run(
        f"{sys.executable} -m livemelody styles | true", shell=True, capture_output=True, text=True, timeout=120
    )
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr


def test_headless_demo_in_3_4_plays_a_call_that_fits_and_is_not_cut(tiny_models, capsys):
    """The built-in tune is 4 bars of 4/4; in 3/4 the longest call is 4 bars of 12 steps, so
    the demo plays what fits (the notes starting in 48 steps) and the answer is not stopped by
    the rest of the tune."""
    code, out, err = run(
        capsys, "demo", "--headless", "--turns", "2", "--style", "tiny", "--bpm", "240", "--meter", "3/4", "--no-audio"
    )
    assert code == 0, err
    assert "(11 notes) in" in out and "player took over" not in out + err
