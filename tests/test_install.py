"""A non-editable `pip install .` into a fresh virtual environment carries the shipped models:
`continue`, `vary` and `morph` work from outside the checkout."""

import os
import subprocess
import venv

import pytest

from tests.conftest import REPO
from training.cli import MISSING_EXTRA


@pytest.mark.slow
def test_fresh_install_continues_from_outside_the_checkout(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("LIVEMELODY_MODELS", "PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(REPO)], capture_output=True, text=True, env=env
    )
    assert install.returncode == 0, install.stderr[-3000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    livemelody = env_dir / "bin" / "livemelody"
    example = REPO / "examples" / "ah_vous_dirai_je_maman.mid"
    for style in ("deutsch", "han"):
        run = subprocess.run(
            [str(livemelody), "continue", str(example), "-o", f"{style}.mid", "--style", style, "--seed", "3"],
            capture_output=True,
            text=True,
            cwd=work,
            env=env,
        )
        assert run.returncode == 0, run.stderr
        assert (work / f"{style}.mid").stat().st_size > 100
        for command in (["vary", str(example), "--seed", "3"], ["morph", str(example), str(example), "--steps", "3"]):
            out = f"{style}_{command[0]}.mid"
            run = subprocess.run(
                [str(livemelody), *command, "-o", out, "--style", style],
                capture_output=True,
                text=True,
                cwd=work,
                env=env,
            )
            assert run.returncode == 0, run.stderr
            assert (work / out).stat().st_size > 100
    # `train` is listed (the training package is in the wheel) and, without the extra, says what to install
    train = subprocess.run(
        [str(livemelody), "train", "mine", str(work)], capture_output=True, text=True, cwd=work, env=env
    )
    assert train.returncode == 2, train.stderr
    assert train.stderr.strip() == f"livemelody: error: {MISSING_EXTRA}"
    styles = subprocess.run([str(livemelody), "styles"], capture_output=True, text=True, cwd=work, env=env)
    assert "site-packages/livemelody/exported_models" in styles.stdout, styles.stdout
    where = subprocess.run(
        [str(python), "-c", "import livemelody; print(livemelody.__file__)"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    )
    assert str(REPO) not in where.stdout, "the fresh environment must not import the checkout"
    demo_env = {
        **env,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    demo = subprocess.run(
        [str(livemelody), "demo", "--headless", "--turns", "1", "--no-audio"],
        capture_output=True,
        text=True,
        cwd=work,
        env=demo_env,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stderr
    assert "turn 1: call" in demo.stdout and "session saved" in demo.stdout
