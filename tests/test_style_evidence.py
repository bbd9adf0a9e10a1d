"""The style classifier of docs/EVALUATION.md: multi-class, class-balanced, on windows of a fixed length."""

import numpy as np

from livemelody.encoding import Vocabulary, notes_to_tokens
from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN
from training.style_evidence import SoftmaxRegression, windows


def test_softmax_regression_separates_classes_of_very_different_sizes():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0], [3, 0, 0], [0, 3, 0]], dtype=float)
    sizes = (2000, 100, 30)  # one large style, two small ones
    x = np.concatenate([c + rng.standard_normal((n, 3)) for c, n in zip(centres, sizes)])
    y = np.concatenate([np.full(n, k) for k, n in enumerate(sizes)])
    model = SoftmaxRegression().fit(x, y, 3)
    test = np.concatenate([c + rng.standard_normal((200, 3)) for c in centres])
    recall = [np.mean(model.predict(test[200 * k : 200 * (k + 1)]) == k) for k in range(3)]
    assert min(recall) > 0.8, recall  # balanced: the small classes are not swallowed by the large one


def test_windows_cut_equal_lengths_and_leave_out_what_does_not_fit():
    vocab = Vocabulary()
    tokens = notes_to_tokens(AH_VOUS_DIRAI_JE_MAMAN, vocab)  # 64 steps
    assert len(tokens) == 64
    cut = windows(tokens, 16, vocab, hop=16)
    assert len(cut) == 4 and [n.pitch for n in cut[0]] == [60, 60, 67, 67]
    assert windows(tokens, 32, vocab, start=32)[0][0].pitch == 65
    assert windows(tokens, 64, vocab, start=32) == []
