"""The short-term model's C library (livemelody/_stm.c, livemelody.stm_native) against the Python
reference (livemelody.ppm: PPM, TokenStm's Python path): the same blend to the bit, the same
mixture to rounding, the same continuation; without a compiler TokenStm falls back to Python in
one log line. Under CI=true a library that cannot be built fails the tests that need it."""

import logging
import os

import numpy as np
import pytest

from livemelody import cbuild, stm_native
from livemelody.ppm import PPM, TokenStm

RTOL = 1e-9


@pytest.fixture(scope="module")
def lib():
    try:
        return stm_native.load()
    except stm_native.NativeUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the short-term model's C library cannot be built in CI: {exc}")
        pytest.skip(f"the short-term model's C library cannot be built here: {exc}")


@pytest.fixture
def no_compiler(monkeypatch):
    """No C compiler in this process (as the JACK tests take it away): nothing loaded yet,
    nothing said yet."""
    monkeypatch.setattr(stm_native, "_lib", None)
    monkeypatch.setattr(stm_native, "_failure", None)
    monkeypatch.setattr(stm_native, "compiler", lambda: None)


class PythonStm(TokenStm):
    NATIVE = False  # the Python PPM whatever this machine has


def python_stm(vocab: int, weight: float, tokens=(), bias: float | None = None) -> TokenStm:
    return PythonStm(vocab, weight, tokens, bias)


def sequences(rng: np.random.Generator, alphabet: int):
    """Token sequences of several lengths and kinds: random, a repeated figure, a repeated figure
    with random changes (contexts that match for a while then diverge), one token over and over."""
    for length in (0, 1, 2, 7, 33, 120, 700):  # 700: past the C arrays' first size (512)
        yield rng.integers(0, alphabet, length).tolist()
        figure = rng.integers(0, alphabet, int(rng.integers(1, 13))).tolist()
        yield (figure * (length // len(figure) + 1))[:length]
        noisy = np.resize(rng.integers(0, alphabet, 20), length)
        changed = rng.random(length) < 0.1
        noisy[changed] = rng.integers(0, alphabet, int(changed.sum()))
        yield noisy.tolist()
        yield [alphabet - 1] * length


SETTINGS = ((0.1, TokenStm.BIAS), (0.3, 0.0), (0.6, 2.0), (1.0, TokenStm.BIAS), (0.0, TokenStm.BIAS))
"""(weight, bias): the default, the fixed mixture, a strong bias, the STM alone, the LSTM alone."""


@pytest.mark.parametrize("alphabet", [45, 1, 2, 3, 5])
def test_the_c_model_equals_the_python_one_token_by_token(lib, alphabet):
    rng = np.random.default_rng(alphabet)
    checked = 0
    for tokens in sequences(rng, alphabet):
        native = TokenStm(alphabet, 0.1)
        assert native.native
        reference = PPM(alphabet, TokenStm.ORDER_BOUND, "c", False, False)
        python = python_stm(alphabet, 0.1)
        # the longest sequences are checked at their start and end (the Python blend is slow)
        checked_at = set(range(60)) | set(range(len(tokens) - 60, len(tokens) + 1))
        for i in range(len(tokens) + 1):
            if i in checked_at:
                values, norm = reference.blend_dense(reference.sequence)
                assert norm == 1.0 and native._native.blend().tolist() == values  # to the bit
                logits = (rng.normal(size=alphabet) * rng.choice([0.1, 3.0, 30.0])).astype(np.float32)
                for weight, bias in SETTINGS:
                    native.weight = python.weight = weight
                    native.bias = python.bias = bias
                    got, expected = native.distribution(logits), python.distribution(logits)
                    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0)
                    assert got.sum() == pytest.approx(1.0, abs=1e-12)
                    checked += 1
            if i < len(tokens):
                for model in (native, python, reference):
                    model.learn(tokens[i])
        assert native._native.sequence == tokens
        primed = TokenStm(alphabet, 0.1, tokens)  # the primer in one call
        assert primed._native.sequence == tokens and primed._native.blend().tolist() == native._native.blend().tolist()
    assert checked > 1000


def test_the_c_model_takes_what_the_python_one_takes(lib):
    stm = TokenStm(45, 0.2, [0, 5, 2])
    row = np.random.default_rng(0).normal(size=(1, 45))  # a batch-of-one row, float64 (a style blend's)
    assert stm.native
    np.testing.assert_allclose(stm.distribution(row), python_stm(45, 0.2, [0, 5, 2]).distribution(row), rtol=RTOL)
    assert stm.distribution(row) is not stm.distribution(row)  # a new array each call
    for bad in (45, -1):
        with pytest.raises(ValueError, match="outside the alphabet"):
            stm.learn(bad)
    for bad in ([0, 5, 45, 2], [-1]):
        with pytest.raises(ValueError, match="outside the alphabet"):
            TokenStm(45, 0.2, bad)
    assert TokenStm(45, 0.2, np.array([0, 5, 2])).model.sequence == [0, 5, 2]
    stm.learn(np.int64(7))  # numpy integers, as a sampler may give
    assert stm.model.sequence == [0, 5, 2, 7]  # the Python PPM of the same tokens, for inspection
    with pytest.raises(ValueError):
        stm.distribution(np.zeros(44))


def test_a_configuration_the_c_file_does_not_implement_stays_in_python(lib):
    class Unbounded(TokenStm):
        ORDER_BOUND = None  # PPM*

    class ExclusionX(TokenStm):
        ESCAPE = "x"
        UPDATE_EXCLUSION = True

    assert TokenStm(45, 0.1).native and not PythonStm(45, 0.1).native
    assert not Unbounded(45, 0.1, [0, 1, 2]).native and not ExclusionX(45, 0.1, [0, 1, 2]).native


def test_without_a_compiler_the_stm_runs_in_python_with_one_log_line(no_compiler, caplog):
    tokens = [0, 10, 2, 2, 12, 2, 10, 2, 2]
    logits = np.random.default_rng(1).normal(size=45).astype(np.float32)
    with caplog.at_level(logging.WARNING, logger="livemelody.stm"):
        models = [TokenStm(45, 0.1, tokens) for _ in range(3)]
    assert not any(m.native for m in models)
    lines = [r.getMessage() for r in caplog.records if r.name == "livemelody.stm"]
    assert len(lines) == 1 and "no C compiler" in lines[0] and "Python" in lines[0], lines
    # the Python path is the reference itself: the mixture of the PPM's prediction
    expected = python_stm(45, 0.1, tokens).distribution(logits)
    assert models[0].distribution(logits).tolist() == expected.tolist()
    models[0].learn(5)
    assert models[0].model.sequence == [*tokens, 5]


def test_a_failed_compile_falls_back_too(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(stm_native, "_lib", None)
    monkeypatch.setattr(stm_native, "_failure", None)
    monkeypatch.setattr(stm_native, "compiler", lambda: "false")  # runs, and fails
    with pytest.raises(cbuild.NativeUnavailable, match="compiling _stm.c with 'false' failed"):
        stm_native.load()
    with caplog.at_level(logging.WARNING, logger="livemelody.stm"):
        assert not TokenStm(45, 0.1, [0, 1]).native
    assert any("compiling _stm.c" in r.getMessage() for r in caplog.records)
    assert not any((tmp_path / "livemelody" / "native").glob("*"))  # no partial file left


def test_the_builder_names_each_library_by_its_source_command_and_machine(tmp_path, monkeypatch):
    from livemelody.midi import native

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    stm = cbuild.library_path(stm_native.SOURCE, "cc", stm_native.FLAGS)
    jack = native.library_path("cc")
    assert stm.parent == jack.parent == tmp_path / "livemelody" / "native"
    assert stm.name.startswith("_stm-") and jack.name.startswith("_jackmidi-")
    assert cbuild.library_path(stm_native.SOURCE, "cc", ()) != stm  # other flags, another file
    assert cbuild.library_path(stm_native.SOURCE, "clang", stm_native.FLAGS) != stm
    edited = tmp_path / "_stm.c"
    edited.write_text(stm_native.SOURCE.read_text() + "\n/* edited */\n")
    assert cbuild.library_path(edited, "cc", stm_native.FLAGS) != stm


def test_the_library_is_built_into_the_cache_once_and_reused(lib, tmp_path, monkeypatch):
    cc = stm_native.compiler()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first, path = cbuild.open_library(stm_native.SOURCE, cc, stm_native.FLAGS)
    assert path.is_relative_to(tmp_path) and path.exists()
    built = path.stat().st_mtime_ns
    _, again = cbuild.open_library(stm_native.SOURCE, cc, stm_native.FLAGS)
    assert again == path and path.stat().st_mtime_ns == built  # not compiled again
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_continue_gives_the_python_models_distributions_along_the_c_continuation(lib, monkeypatch):
    """The C and Python mixtures are not bit-identical (numpy's vectorised exp and log2 against
    libm's; the PPM blend is), so a draw could in principle fall between them: the C path's
    continuation is replayed on the Python model and every step's distribution compared."""
    import livemelody.generate as generate
    from livemelody.encoding.vocab import DELIMITER_ID
    from livemelody.models.lstm import LstmSession
    from livemelody.sampling import SamplingParams
    from tests.conftest import TINY_JSON

    events: list = []

    class Recording(TokenStm):
        def learn(self, token):
            events.append(("learn", token))
            super().learn(token)

        def distribution(self, logits):
            out = super().distribution(logits)
            events.append(("mix", np.array(logits, dtype=np.float64), out.copy()))
            return out

    monkeypatch.setattr(generate, "TokenStm", Recording)
    session = LstmSession(TINY_JSON)
    primer = [10, 2, 2, 12, 2, 14, 2, 2] * 3
    for weight in (0.1, 0.5):
        events.clear()
        tokens = generate.continue_tokens(
            session, primer, 64, SamplingParams(1.0, top_p=0.95), np.random.default_rng(3), stm_weight=weight
        )
        assert [e[1] for e in events if e[0] == "learn"] == tokens[:-1]
        python = python_stm(session.vocab.size, weight, [DELIMITER_ID, *primer])
        mixes = 0
        for event in events:
            if event[0] == "learn":
                python.learn(event[1])
            else:
                np.testing.assert_allclose(event[2], python.distribution(event[1]), rtol=RTOL, atol=0)
                mixes += 1
        assert mixes == 64
