import os

import pytest

from tests.live.jack import JackServer, Listener, Player, require_jack


@pytest.fixture(scope="session")
def jack(tmp_path_factory):
    require_jack()
    server = JackServer(f"livemelody-test-{os.getpid()}", str(tmp_path_factory.mktemp("jack") / "jackd.log")).start()
    try:
        with server.as_default():
            yield server
    finally:
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
