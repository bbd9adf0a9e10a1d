"""PPM (livemelody/ppm.py): known counts give known probabilities; the lazy trie predicts
exactly what a plain table of every context predicts; IDyOM's entropy-weighted combination;
the run-time mixture (the same combination, with priors) and the evaluation's choice of it."""

import random
from fractions import Fraction

import numpy as np
import pytest

from livemelody.encoding.vocab import FIRST_PITCH_ID, HOLD_ID
from livemelody.ppm import PPM, TokenStm, capped_share, combine, entropy_weights, relative_entropy


def test_escape_c_blend_by_hand():
    # after 0 1 0 1 0, order bound 1: context "0" saw {1: 2}; order 0 saw {0: 3, 1: 2}
    model = PPM(3, order_bound=1, escape="c", idyom_counts=False).fit([[0, 1, 0, 1, 0]])
    p = model.predict()
    # p(s) = 2/3 * c1(s)/2 + 1/3 * (5/7 * c0(s)/5 + 2/7 * 1/3)
    expected = [Fraction(11, 63), Fraction(50, 63), Fraction(2, 63)]
    assert p == pytest.approx([float(x) for x in expected], abs=1e-12)


def test_escape_x_counts_singletons_plus_one():
    model = PPM(3, order_bound=1, escape="x", idyom_counts=False).fit([[0, 1, 0, 1, 0]])
    # order 1 {1: 2}: no singletons, t = 1, w = 2/3; order 0 {0: 3, 1: 2}: t = 1, w = 5/6
    assert model.predict()[1] == pytest.approx(2 / 3 + 1 / 3 * (5 / 6 * 2 / 5 + 1 / 6 / 3), abs=1e-12)


def test_idyom_counts_exclude_the_higher_orders_symbols_and_renormalise():
    model = PPM(3, order_bound=1, escape="c", idyom_counts=True).fit([[0, 1, 0, 1, 0]])
    # order 1 {1: 2}: w = 2/3, p(1) += 2/3; order 0 total without symbol 1: 3, t = 2, w = 3/5,
    # escape 1/3: p(0) += 1/3 * 3/5, p(1) += 1/3 * 3/5 * 2/3; order -1: 1/3 * 2/5 / (3 + 1 - 2)
    raw = np.array([1 / 5 + 1 / 15, 2 / 3 + 2 / 15 + 1 / 15, 1 / 15])
    assert model.predict() == pytest.approx(raw / raw.sum(), abs=1e-12)


def test_ppm_star_starts_from_the_shortest_deterministic_context():
    # context "1" is deterministic (always followed by 2); context "2" is not
    model = PPM(3, escape="c", idyom_counts=False).fit([[0, 1, 2, 0, 1, 2, 1, 2, 2, 1]])
    p = model.predict()
    # order 1 "1": {2: 3}, w = 3/4; order 0: {0: 2, 1: 4, 2: 4}: n = 10, t = 3
    order0 = np.array([2, 4, 4]) / 13 + 3 / 13 / 3
    assert p == pytest.approx(3 / 4 * np.array([0, 0, 1]) + 1 / 4 * order0, abs=1e-12)


def test_update_exclusion_stops_at_the_first_context_that_knew_the_symbol():
    model = PPM(2, order_bound=1, escape="c", update_exclusion=True, idyom_counts=False).fit([[0, 0, 0]])
    # 1st 0: order 0 -> {0: 1}. 2nd: context "0" is new -> {0: 1}; order 0 knew 0 -> {0: 2}, stop.
    # 3rd: context "0" knew 0 -> {0: 2}, stop: order 0 stays {0: 2}
    assert model.root[0] == {0: 2}
    assert model.root[1][0][0] == {0: 2}


class TableModel:
    """The same model as a plain table of every context (tuples), no trie, no laziness."""

    def __init__(self, size, bound, escape, exclusion, idyom):
        self.size, self.bound, self.escape, self.exclusion, self.idyom = size, bound, escape, exclusion, idyom
        self.counts: dict[tuple, dict] = {}
        self.seq: list[int] = []

    def learn(self, symbol):
        top = len(self.seq) if self.bound is None else min(self.bound, len(self.seq))
        contexts = [tuple(self.seq[len(self.seq) - k :]) if k else () for k in range(top + 1)]
        for ctx in reversed(contexts):
            counts = self.counts.setdefault(ctx, {})
            seen = counts.get(symbol, 0)
            counts[symbol] = seen + 1
            if self.exclusion and seen:
                break
        self.seq.append(symbol)

    def predict(self):
        chain = [self.counts.get((), {})]
        k = 1
        while k <= len(self.seq) and (self.bound is None or k <= self.bound):
            counts = self.counts.get(tuple(self.seq[len(self.seq) - k :]))
            if counts is None:
                break
            chain.append(counts)
            if self.bound is None and len(counts) == 1:
                break
            k += 1
        probs = np.zeros(self.size)
        escape, higher = 1.0, None
        for counts in reversed(chain):
            n = sum(c for s, c in counts.items() if not (self.idyom and higher is not None and s in higher))
            higher = counts
            if n == 0:
                continue
            t = len(counts) if self.escape == "c" else 1 + sum(c == 1 for c in counts.values())
            w = n / (n + t)
            for s, c in counts.items():
                probs[s] += escape * w * c / n
            escape *= 1 - w
        if self.idyom:
            probs += escape / (self.size + 1 - len(self.counts.get((), {})))
            return probs / probs.sum()
        return probs + escape / self.size


@pytest.mark.parametrize("bound", [None, 1, 3, 6])
@pytest.mark.parametrize("escape", ["c", "x"])
@pytest.mark.parametrize("exclusion", [False, True])
@pytest.mark.parametrize("idyom", [False, True])
def test_incremental_trie_predicts_what_the_table_of_every_context_predicts(bound, escape, exclusion, idyom):
    rng = random.Random(hash((bound, escape, exclusion, idyom)) % 1000)
    motif = [rng.randrange(5) for _ in range(6)]
    seq = []
    while len(seq) < 150:  # repeats with changes: long matches, recurring and new contexts
        seq += motif if rng.random() < 0.6 else [rng.randrange(5) for _ in range(rng.randrange(1, 5))]
    model, table = PPM(5, bound, escape, exclusion, idyom), TableModel(5, bound, escape, exclusion, idyom)
    for symbol in seq:
        p = model.predict()
        assert p == pytest.approx(table.predict(), abs=1e-12)
        assert p.sum() == pytest.approx(1.0, abs=1e-12) and (p > 0).all()
        values, norm = model.blend_dense(model.sequence)  # the short-term model's fast path
        assert np.array(values) / norm == pytest.approx(table.predict(), abs=1e-12)
        model.learn(symbol)
        table.learn(symbol)


def test_an_ltm_over_many_songs_keeps_contexts_inside_each_song():
    model = PPM(3, escape="c", idyom_counts=False).fit([[0, 1], [2, 1]])
    # "1" ended both songs: no song goes on after it, so the context "1" is unknown
    assert model.distribution([1]) == pytest.approx(model.distribution([]), abs=1e-15)
    assert model.distribution([0]) != pytest.approx(model.distribution([]), abs=1e-3)
    with pytest.raises(ValueError):
        model.learn(3)


def test_combination_is_normalised_and_favours_the_surer_model():
    sure = np.array([0.97, 0.01, 0.01, 0.01])
    unsure = np.full(4, 0.25)
    for geometric in (True, False):
        p = combine(np.stack([sure, unsure]), 7.0, geometric)
        assert p.sum() == pytest.approx(1.0) and p[0] > 0.9
        assert combine(np.stack([sure, unsure]), 0.0, geometric)[0] < p[0]


def test_relative_entropy_is_entropy_over_log2_of_the_alphabet():
    assert relative_entropy(np.full(8, 1 / 8)) == pytest.approx(1.0)
    p = np.array([0.5, 0.25, 0.25, 0.0])  # 1.5 bits; a zero counts 0
    assert relative_entropy(p) == pytest.approx(1.5 / 2)
    assert relative_entropy(np.array([1.0, 0.0, 0.0])) == pytest.approx(1e-12)  # the floor: no 0 ** -bias
    assert relative_entropy(np.stack([p, np.full(4, 0.25)])) == pytest.approx([0.75, 1.0])


def test_combination_with_priors_weights_each_model_by_its_prior_and_its_certainty():
    rng = np.random.default_rng(3)
    a, b = rng.dirichlet(np.ones(6)), rng.dirichlet(np.full(6, 0.2))  # b the surer
    ha, hb = relative_entropy(a), relative_entropy(b)
    assert hb < ha
    for bias in (0.0, 0.5, 3.0):
        wa, wb = (0.7 * ha**-bias, 0.3 * hb**-bias) / (0.7 * ha**-bias + 0.3 * hb**-bias)
        expected = wa * a + wb * b
        got = combine(np.stack([a, b]), bias, geometric=False, priors=(0.7, 0.3))
        assert got == pytest.approx(expected, abs=1e-12) and got.sum() == pytest.approx(1.0, abs=1e-12)
    # bias 0: the fixed-weight mixture; priors all 1: IDyOM's unweighted rule
    assert combine(np.stack([a, b]), 0.0, False, (0.7, 0.3)) == pytest.approx(0.7 * a + 0.3 * b, abs=1e-12)
    assert combine(np.stack([a, b]), 2.0, False, (1, 1)) == pytest.approx(combine(np.stack([a, b]), 2.0, False))
    # the surer model gets more than its prior, the more so the larger the bias
    w1 = entropy_weights([ha, hb], 1.0, (0.7, 0.3))[1]
    w3 = entropy_weights([ha, hb], 3.0, (0.7, 0.3))[1]
    assert 0.3 < w1 < w3
    for bad in ((0.0, 0.0), (-0.1, 1.1)):
        with pytest.raises(ValueError):
            combine(np.stack([a, b]), 1.0, False, bad)


def _softmax(logits):
    z = np.asarray(logits, dtype=np.float64)
    return np.exp(z - z.max()) / np.exp(z - z.max()).sum()


def test_the_mixture_is_combine_with_priors_and_sums_to_one():
    logits = np.random.default_rng(0).normal(size=45).astype(np.float32)
    tokens = [0, 5, 2, 2, 7, 2, 5, 2, 2]
    for weight, bias in ((0.1, TokenStm.BIAS), (0.25, 0.0), (0.6, 2.0)):
        stm = TokenStm(45, weight, tokens, bias=bias)
        mixed = stm.distribution(logits)
        assert mixed.sum() == pytest.approx(1.0, abs=1e-12)
        both = np.stack([_softmax(logits), stm.model.predict()])
        _, share = entropy_weights(relative_entropy(both).tolist(), bias, (1 - weight, weight))
        if share <= max(weight, TokenStm.MAX_SHARE):  # below the cap: IDyOM's combination itself
            assert mixed == pytest.approx(combine(both, bias, geometric=False, priors=(1 - weight, weight)), abs=1e-12)
        share = capped_share(share, weight, TokenStm.MAX_SHARE, both[1], FIRST_PITCH_ID)
        assert mixed == pytest.approx((1 - share) * both[0] + share * both[1], abs=1e-12)
    # bias 0 is the fixed-weight mixture this project used before
    stm = TokenStm(45, 0.25, tokens, bias=0.0)
    assert stm.distribution(logits) == pytest.approx(0.75 * _softmax(logits) + 0.25 * stm.model.predict(), abs=1e-12)
    assert TokenStm(45, 0.1, tokens).bias == TokenStm.BIAS  # the three-argument form keeps working
    # a batch-of-one row of logits is the same as the flat vector
    stm = TokenStm(45, 0.1, tokens)
    assert stm.distribution(logits[None, :]) == pytest.approx(stm.distribution(logits), abs=0)
    for bad in ({"weight": 1.5}, {"weight": -0.1}, {"weight": 0.5, "bias": -1.0}):
        with pytest.raises(ValueError):
            TokenStm(45, tokens=tokens, **bad)


def test_weight_one_is_the_stm_alone_and_weight_near_zero_the_lstm():
    logits = np.random.default_rng(1).normal(size=45).astype(np.float32)
    tokens = [0, 5, 2, 2, 7, 2, 5, 2, 2, 7, 2]
    stm_alone = TokenStm(45, 1.0, tokens)
    assert stm_alone.distribution(logits) == pytest.approx(stm_alone.model.predict(), abs=1e-15)
    assert TokenStm(45, 0.0, tokens).distribution(logits) == pytest.approx(_softmax(logits), abs=1e-15)
    near = TokenStm(45, 1e-9, tokens).distribution(logits)
    assert near == pytest.approx(_softmax(logits), abs=1e-6) and near != pytest.approx(_softmax(logits), abs=1e-15)


def test_the_surer_model_counts_more_than_its_prior():
    figure = [10, 2, 2, 12, 2, 14, 2, 2]
    stm = TokenStm(45, 0.1, [0, *figure * 6])  # a figure repeated: the STM is sure what comes next
    q = stm.model.predict()
    flat = np.zeros(45, dtype=np.float32)  # an LSTM with no idea: uniform, relative entropy 1
    mixed = stm.distribution(flat)
    # mixed = (1 - a) uniform + a q; the STM's share a, read off its likeliest token
    top = int(np.argmax(q))
    share = (mixed[top] - 1 / 45) / (q[top] - 1 / 45)
    assert share > 0.3  # far above its prior 0.1
    # and a sure LSTM against an unsure STM (one token seen) keeps more than its prior 0.5
    peaked = np.full(45, -8.0, dtype=np.float32)
    peaked[20] = 8.0
    unsure = TokenStm(45, 0.5, [0])
    p = _softmax(peaked)
    share_lstm = (unsure.distribution(peaked)[20] - unsure.model.predict()[20]) / (p[20] - unsure.model.predict()[20])
    assert share_lstm > 0.5 + 0.1


def test_the_evaluation_chooses_prior_and_bias_on_its_grid_and_bias_zero_is_the_fixed_mixture():
    from training.ppm_eval import MIX_BIASES, WEIGHTS, best_mixture, mean_grid, mixed, mixture_grid

    rng = np.random.default_rng(2)
    songs = [[int(t) for t in rng.integers(0, 6, 30)] for _ in range(3)]
    lstm = [rng.dirichlet(np.ones(6), len(s) - 1) for s in songs]
    stm = [rng.dirichlet(np.full(6, 0.3), len(s) - 1) for s in songs]
    assert mixed(lstm, stm, 0.3)[0] == pytest.approx(0.7 * lstm[0] + 0.3 * stm[0], abs=1e-12)
    grid = mixture_grid(lstm, stm, songs)
    assert set(grid) == set(MIX_BIASES) and all(set(row) == set(WEIGHTS) for row in grid.values())
    w, b, v = best_mixture(grid)
    assert v == min(x for row in grid.values() for x in row.values()) == grid[b][w]
    fw, fb, fv = best_mixture(grid, fixed=True)
    assert fb == 0.0 and fv == min(grid[0.0].values()) and fv >= v
    shifted = {bias: {prior: v + 1.0 for prior, v in row.items()} for bias, row in grid.items()}
    assert mean_grid([grid, shifted])[b][w] == pytest.approx(grid[b][w] + 0.5)


# ---- the short-term model in generation ---------------------------------------------------
def _tiny_session():
    from livemelody.models.lstm import LstmSession
    from tests.conftest import TINY_JSON

    return LstmSession(TINY_JSON)


def test_continue_with_the_stm_is_deterministic_for_a_seed_and_weight_zero_is_todays_output():
    from livemelody.encoding.vocab import DELIMITER_ID
    from livemelody.generate import continue_tokens
    from livemelody.sampling import SamplingParams, sample

    session = _tiny_session()
    params = SamplingParams(1.0, top_p=0.95)
    primer = [10, 2, 2, 12, 2, 14, 2, 2] * 3
    a = continue_tokens(session, primer, 64, params, np.random.default_rng(5), stm_weight=0.3)
    b = continue_tokens(session, primer, 64, params, np.random.default_rng(5), stm_weight=0.3)
    assert a == b

    # the loop as it was before the short-term model
    rng = np.random.default_rng(5)
    logits, state = session.prime([DELIMITER_ID, *primer])
    before = []
    for i in range(64):
        before.append(sample(logits, params, rng, banned=(DELIMITER_ID,)))
        if i + 1 < 64:
            logits, state = session.step(before[-1], state)
    assert continue_tokens(session, primer, 64, params, np.random.default_rng(5), stm_weight=0.0) == before
    assert a != before  # the mixture changes what is played


def test_the_stm_alone_greedy_carries_on_the_primers_repeated_figure():
    from livemelody.generate import continue_tokens
    from livemelody.sampling import SamplingParams

    figure = [10, 2, 2, 12, 2, 14, 2, 2, 12, 2, 1, 2]
    out = continue_tokens(
        _tiny_session(), figure * 4, 24, SamplingParams(0.0), np.random.default_rng(0), stm_weight=1.0
    )
    assert out == figure * 2


def test_the_live_stream_mixes_the_call_in_the_chosen_key():
    from livemelody.live.streaming import StreamingLstm

    stream = StreamingLstm(_tiny_session())
    for pitch in (60, None, 62, None, 64, None) * 3:
        stream.feed_call(2 if pitch is None else None, pitch)
    stream.choose(2)
    vocab = stream.vocab
    assert stream.tokens[:3] == [0, vocab.pitch_id(62), 2]
    assert stream.short_term(0.0) is None
    p = stream.short_term(1.0).distribution(stream.logits)
    assert int(np.argmax(p)) == vocab.pitch_id(62)  # after 64 (+2), the call went back to 60 (+2)
    stream.feed(vocab.pitch_id(62))
    assert int(np.argmax(stream.short_term(1.0).distribution(stream.logits))) == 2  # and then held


def test_the_stm_mixes_into_a_style_blend_too():
    from livemelody.blend import Blend
    from livemelody.generate import continue_tokens
    from livemelody.sampling import SamplingParams

    session, partner = _tiny_session(), _tiny_session()
    figure = [10, 2, 2, 12, 2, 14, 2, 2, 12, 2, 1, 2]
    blend = Blend(partner, 0.5)
    out = continue_tokens(
        session, figure * 4, 24, SamplingParams(0.0), np.random.default_rng(0), blend=blend, stm_weight=1.0
    )
    assert out == figure * 2  # the STM alone decides at weight 1, blend or not
    a = continue_tokens(session, figure, 32, SamplingParams(1.0), np.random.default_rng(4), blend=blend, stm_weight=0.3)
    b = continue_tokens(session, figure, 32, SamplingParams(1.0), np.random.default_rng(4), blend=blend, stm_weight=0.3)
    assert a == b


def test_the_stms_share_is_capped_on_rhythm_tokens_so_a_run_of_holds_cannot_take_the_answer():
    """Generating, the STM learns the answer's own tokens: after a long run of holds it is all
    but sure of another, and the uncapped entropy rule would hand it most of the mixture (near-
    silent answers). Where its likeliest token is a hold, rest or the delimiter its share stops at
    MAX_SHARE, unless its prior is higher (1: the STM alone); a sure pitch is not capped."""
    hold = HOLD_ID
    flat = np.zeros(45, dtype=np.float32)  # an LSTM with no idea
    for tokens, capped in (([0, 10, *[hold] * 60], True), ([0, *[10, 12, 14, 15] * 12], False)):
        stm = TokenStm(45, 0.1, tokens)
        q = stm.model.predict()
        both = np.stack([_softmax(flat), q])
        _, uncapped = entropy_weights(relative_entropy(both).tolist(), stm.bias, (0.9, 0.1))
        assert uncapped > TokenStm.MAX_SHARE  # what the rule alone gives
        mixed = stm.distribution(flat)
        top = int(np.argmax(q))
        assert (top < FIRST_PITCH_ID) == capped
        share = (mixed[top] - 1 / 45) / (q[top] - 1 / 45)
        assert share == pytest.approx(TokenStm.MAX_SHARE if capped else uncapped, abs=1e-9)
    rhythm, pitch = np.eye(45)[hold], np.eye(45)[20]
    assert capped_share(0.9, 0.95, 0.5, rhythm, FIRST_PITCH_ID) == 0.9
    assert capped_share(0.9, 0.1, 0.5, rhythm, FIRST_PITCH_ID) == 0.5
    assert capped_share(0.9, 0.1, 0.5, pitch, FIRST_PITCH_ID) == 0.9
    rows = capped_share(np.array([[0.9], [0.9]]), 0.1, 0.5, np.stack([rhythm, pitch]), FIRST_PITCH_ID)
    assert rows.ravel().tolist() == [0.5, 0.9]
    alone = TokenStm(45, 1.0, [0, 10, *[hold] * 60])
    assert alone.distribution(flat) == pytest.approx(alone.model.predict(), abs=1e-12)
