import os

import pytest

from tests.live.jack import JackServer, Listener, Player, require_jack


@pytest.fixture(scope="session")
def jack(tmp_path_factory):
    require_jack()
    server = JackServer(f"livemelody-test-{os.getpid()}", str(tmp_path_factory.mktemp("jack") / "jackd.log")).start()
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER", "LIVEMELODY_MIDI_API")}
    os.environ.update({"JACK_DEFAULT_SERVER": server.name, "JACK_NO_START_SERVER": "1", "LIVEMELODY_MIDI_API": "jack"})
    yield server
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.stop()


@pytest.fixture
def player(jack):
    p = Player()
    yield p
    p.close()


@pytest.fixture
def listener(jack):
    listener = Listener()
    yield listener
    listener.close()
