"""Models and settings that do not match fail cleanly: one line, never a traceback (issue 10)."""

import json
import shutil

import pytest

from livemelody.models.lstm import LstmSession
from livemelody.models.metadata import ModelError
from livemelody.models.vae import VaeSession
from tests.conftest import TINY_MODELS


def copy_model(folder, name, style=None, edit=None):
    """Copy the tiny model ``name`` (e.g. "lstm_tiny") into ``folder``, optionally as another
    style and with ``edit(metadata dict)`` applied; returns the json path."""
    folder.mkdir(exist_ok=True)
    shutil.copy(TINY_MODELS / f"{name}.onnx", folder / f"{name}.onnx")
    raw = json.loads((TINY_MODELS / f"{name}.json").read_text())
    target = folder / f"{name}.json"
    if style is not None:
        raw["style"] = style
        target = folder / f"{name.replace('tiny', style)}.json"
    if edit is not None:
        edit(raw)
    target.write_text(json.dumps(raw))
    return target


def hidden(raw):
    raw["dimensions"]["hidden_size"] = 32


def shifted(raw):  # every pitch symbol one semitone up, the range left as it was
    symbols = raw["encoding"]["symbols"]
    raw["encoding"]["symbols"] = symbols[:3] + [str(int(s) + 1) for s in symbols[3:]]


def wider(raw):  # one more pitch than the graph has logits for, consistently described
    raw["encoding"]["symbols"].append(str(raw["encoding"]["pitch_high"] + 1))
    raw["encoding"]["pitch_high"] += 1
    raw["dimensions"]["vocab_size"] += 1


@pytest.mark.parametrize(
    "edit, words",
    [(hidden, "hidden_size 32"), (shifted, "vocabulary pitches 49-90"), (wider, "46 symbols")],
    ids=["hidden size", "shifted vocabulary", "vocabulary size"],
)
def test_an_lstm_whose_metadata_does_not_match_its_graph_is_refused_in_one_line(tmp_path, edit, words):
    path = copy_model(tmp_path, "lstm_tiny", edit=edit)
    with pytest.raises(ModelError) as info:
        LstmSession(path)
    message = str(info.value)
    assert "does not match its graph" in message and words in message and "\n" not in message


@pytest.mark.parametrize("key, value", [("phrase_length", 12), ("latent_size", 7)])
def test_a_vae_whose_metadata_does_not_match_its_graphs_is_refused_in_one_line(tmp_path, key, value):
    def edit(raw):
        raw["dimensions"][key] = value

    encoder = copy_model(tmp_path, "vae_tiny_encoder", edit=edit)
    decoder = copy_model(tmp_path, "vae_tiny_decoder", edit=edit)
    with pytest.raises(ModelError) as info:
        VaeSession(encoder, decoder)
    assert "does not match its graph" in str(info.value) and "\n" not in str(info.value)


def test_a_broken_extra_style_is_skipped_with_a_warning(tmp_path, monkeypatch):
    from livemelody.live.process import _load_sessions, _load_variator

    copy_model(tmp_path, "lstm_tiny")
    copy_model(tmp_path, "lstm_tiny", style="broken", edit=hidden)
    copy_model(tmp_path, "vae_tiny_encoder", edit=lambda raw: raw["dimensions"].update(phrase_length=12))
    copy_model(tmp_path, "vae_tiny_decoder")
    monkeypatch.setenv("LIVEMELODY_MODELS", str(tmp_path))
    sessions, warnings = _load_sessions((), required="tiny")
    assert "tiny" in sessions and "broken" not in sessions
    assert len(warnings) == 1 and "'broken' skipped" in warnings[0] and "does not match" in warnings[0]
    assert _load_variator(("tiny",), warnings) is None and "vary mode for 'tiny' skipped" in warnings[1]
    with pytest.raises(ModelError):  # the style to play must load
        _load_sessions((), required="broken")


def test_a_user_model_with_unreadable_metadata_is_named(tmp_path, monkeypatch, capsys):
    from livemelody.cli import main
    from livemelody.models.registry import unreadable_models

    copy_model(tmp_path, "lstm_tiny")
    (tmp_path / "lstm_mine.json").write_text('{"kind": "lstm", "style": "mi')
    monkeypatch.setenv("LIVEMELODY_MODELS", str(tmp_path))
    problems = unreadable_models()
    assert len(problems) == 1 and "lstm_mine.json" in problems[0] and "not valid JSON" in problems[0]
    assert main(["styles"]) == 0
    err = capsys.readouterr().err
    assert "lstm_mine.json" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "nesting", ["[" * 500 + "]" * 500, "{a = " * 500 + "1" + "}" * 500], ids=["arrays", "inline tables"]
)
def test_a_deeply_nested_settings_file_gives_the_one_line_warning_and_the_defaults(nesting):
    from livemelody.settings import Settings, parse_settings

    settings, warnings = parse_settings(f"[engine]\nstyle = {nesting}\n", "settings.toml")
    assert settings == Settings() and len(warnings) == 1 and "nested too deeply" in warnings[0]
