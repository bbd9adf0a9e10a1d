"""The shared model's pieces: bar inputs from scores (pickups right), near-copy removal of the extra
German tunes, the conditioned LSTM, its batches and its ONNX export (issue 12, item 2)."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("music21")

import torch  # noqa: E402

from training.bars import bars_from_grid, measure_bars, step_features  # noqa: E402
from training.dataset import Song, near_copies  # noqa: E402
from training.lstm import CONDITIONED_INPUT_NAMES, MelodyLSTM, export_onnx  # noqa: E402
from training.meters import bar_grid  # noqa: E402
from training.train_lstm import make_batches  # noqa: E402

PICKUP_3_4 = "X:1\nM:3/4\nL:1/4\nK:C\nG|c d e|f2 e|d3|]\n"
"""A quarter-note pickup, then three bars of 3/4."""


def test_a_pickup_is_counted_from_the_end_of_its_bar():
    pos, length = step_features([(0, 12, 4), (4, 12, 12), (16, 12, 12)], 30)
    assert pos[:6].tolist() == [8, 9, 10, 11, 0, 1]  # the pickup is beat 3 of a 3/4 bar
    assert pos[16] == 0 and pos[28] == 0  # bar lines; after the last bar the meter goes on
    assert set(length.tolist()) == {12}


def test_a_full_first_bar_and_a_leading_rest_are_counted_from_the_bar_start():
    assert step_features([(0, 16, 16), (16, 16, 16)], 20)[0][[0, 15, 16, 19]].tolist() == [0, 15, 0, 3]
    # the first note after a 4-step rest in a full bar: the bar starts 4 steps before it
    assert step_features([(-4, 16, 16), (12, 16, 16)], 13)[0][[0, 12]].tolist() == [4, 0]


def test_no_meter_or_a_bar_too_long_gives_zeros():
    for bars in (None, [(0, 64, 64)]):
        pos, length = step_features(bars, 8)
        assert not pos.any() and not length.any()


def test_music21_measures_and_the_esac_text_agree_on_a_pickup():
    import music21

    score = music21.converter.parse(PICKUP_3_4, format="abc")
    from_measures = measure_bars(list(score.parts)[0].stripTies())
    from_text = bars_from_grid(bar_grid(PICKUP_3_4))
    assert from_measures[:3] == [(0, 12, 4), (4, 12, 12), (16, 12, 12)]
    assert from_text[:3] == from_measures[:3]
    pos, _ = step_features(from_measures, 4 + 36)
    onsets = [0, 4, 8, 12, 16, 24, 28]  # G | c d e | f2 e | d3
    assert pos[onsets].tolist() == [8, 0, 4, 8, 0, 8, 0]


def _song(song_id, pitches):
    return {"id": song_id, "notes": [[p, 4 * i, 4] for i, p in enumerate(pitches)]}


def test_near_copies_of_held_out_songs_are_found_transposed_or_by_a_shared_passage():
    rng = np.random.default_rng(1)
    held = [int(p) for p in 60 + rng.integers(-7, 8, size=40)]
    other = [int(p) for p in 60 + rng.integers(-7, 8, size=40)]
    extra = [
        _song("transposed", [p + 2 for p in held]),
        _song("passage", other[:10] + held[10:28] + other[10:]),  # 17 notes: 16 intervals in common
        _song("unrelated", other),
    ]
    assert near_copies(extra, [_song("held", held)]) == {"transposed", "passage"}


def _conditioned(hidden=16):
    torch.manual_seed(0)
    return MelodyLSTM(45, hidden, 0.0, styles=3, style_dim=4, bar_inputs=True).eval()


def test_style_and_bar_inputs_change_the_prediction():
    model = _conditioned()
    tokens = torch.tensor([[0, 10, 2, 2, 12]])
    h, c = model.zero_state(1)
    one = torch.tensor([[1.0, 0.0, 0.0]])
    other = torch.tensor([[0.0, 1.0, 0.0]])
    pos, length = torch.tensor([[0, 1, 2, 3, 4]]), torch.full((1, 5), 16)
    base = model(tokens, h, c, one, pos, length)[0]
    assert not torch.allclose(base, model(tokens, h, c, other, pos, length)[0])
    assert not torch.allclose(base, model(tokens, h, c, one, pos + 4, length)[0])
    # a blend row interpolates the style embeddings: halfway is the mean embedding
    half = model(tokens, h, c, (one + other) / 2, pos, length)[0]
    assert torch.isfinite(half).all() and not torch.allclose(half, base)


def test_batches_carry_one_hot_styles_and_bar_inputs():
    songs = [
        Song("a", 0, (), (10, 2, 2), style_index=2, bar_pos=(12, 13, 14, 15), bar_len=(16,) * 4),
        Song("b", 0, (), (11, 2), style_index=0, bar_pos=(0, 1, 2), bar_len=(12,) * 3),
    ]
    ((inputs, targets, style, bar_pos, bar_len),) = make_batches(songs, 8, None, styles=3, bar_inputs=True)
    assert inputs.shape == bar_pos.shape == bar_len.shape == (2, 4)
    assert style.tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]  # sorted by length: b first
    assert bar_pos[1].tolist() == [12, 13, 14, 15] and bar_len[0].tolist() == [12, 12, 12, 0]


def test_conditioned_export_has_the_new_inputs_and_matches_torch(tmp_path):
    import onnxruntime as ort

    model = _conditioned()
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == CONDITIONED_INPUT_NAMES
    tokens = np.array([[0, 10, 2, 12, 2, 2]], np.int64)
    style = np.array([[0.25, 0.0, 0.75]], np.float32)
    pos = np.array([[12, 13, 14, 15, 0, 1]], np.int64)
    length = np.full_like(pos, 16)
    h, c = (t.numpy() for t in model.zero_state(1))
    got = session.run(None, {"tokens": tokens, "style": style, "bar_pos": pos, "bar_len": length, "h": h, "c": c})
    with torch.no_grad():
        want = model(*(torch.from_numpy(x) for x in (tokens, h, c, style, pos, length)))
    for a, b in zip(got, want):
        assert np.abs(a - b.numpy()).max() < 1e-5


def test_bar_dropout_zeroes_the_bar_inputs_of_about_that_share_of_songs():
    import random

    songs = [Song(str(i), 0, (), (10, 2), style_index=0, bar_pos=(1, 2, 3), bar_len=(16,) * 3) for i in range(400)]
    batches = make_batches(songs, 400, random.Random(0), styles=1, bar_inputs=True, bar_dropout=0.25)
    bar_len = torch.cat([b[4] for b in batches])
    zeroed = int((bar_len.sum(dim=1) == 0).sum())
    assert 70 <= zeroed <= 130  # 100 expected
    kept = bar_len.sum(dim=1) != 0
    assert (bar_len[kept] == 16).all()
    # evaluation batches (no rng) are never changed
    assert (make_batches(songs, 400, None, styles=1, bar_inputs=True, bar_dropout=0.25)[0][4] == 16).all()


def test_a_shared_model_comes_back_from_onnx_and_folds_into_the_seeds_plain_lstm(tmp_path):
    """lstm_from_onnx reads the shared graph (style and bar tables); fold_style gives the plain
    LSTM that computes the shared model's logits for one style with no meter (a user's style
    fine-tunes from it)."""
    from training.lstm import fold_style, lstm_from_onnx

    torch.manual_seed(3)
    model = MelodyLSTM(45, hidden_size=12, dropout=0.0, styles=3, style_dim=4, bar_inputs=True, bar_dim=4).eval()
    export_onnx(model, tmp_path / "m.onnx")
    back = lstm_from_onnx(tmp_path / "m.onnx")
    tokens = torch.randint(0, 45, (1, 20))
    h, c = model.zero_state(1)
    style = torch.tensor([[0.0, 1.0, 0.0]])
    pos, length = torch.arange(20)[None] % 12, torch.full((1, 20), 12)
    with torch.no_grad():
        expected = model(tokens, h, c, style, pos, length)[0]
        assert torch.allclose(back(tokens, h, c, style, pos, length)[0], expected, atol=1e-5)
        plain = fold_style(back, 1)
        assert not plain.styles and not plain.bar_inputs
        zeros = torch.zeros_like(pos)
        assert torch.allclose(plain(tokens, h, c)[0], model(tokens, h, c, style, zeros, zeros)[0], atol=1e-5)
        other = model(tokens, h, c, torch.tensor([[1.0, 0.0, 0.0]]), zeros, zeros)[0]
        assert not torch.allclose(plain(tokens, h, c)[0], other, atol=1e-3)
    with pytest.raises(ValueError):
        fold_style(back, 3)
