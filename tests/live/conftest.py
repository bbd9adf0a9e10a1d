import os

import pytest

from livemelody.live.priority import realtime_permitted
from testkit.jack import JackServer, Listener, Player, require_jack


@pytest.fixture(scope="session")
def jack(tmp_path_factory):
    require_jack()
    # Realtime where permitted, as JACK runs on a stage machine: without it the dummy server
    # drops whole cycles (xruns) when the machine is busy, and with them the test's messages.
    server = JackServer(
        f"livemelody-test-{os.getpid()}",
        str(tmp_path_factory.mktemp("jack") / "jackd.log"),
        realtime=realtime_permitted(),
    ).start()
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
