"""The JACK test clients (player, listener) in a process of their own.

For the dashboard scenario: a listener inside the dashboard's process would compete with
Textual for that process's CPU and GIL, which measures the test rig rather than the engine.
Here the synth's side lives apart, as a real synth would.
"""

from __future__ import annotations

import multiprocessing

from testkit.jack import Listener, Player


def _serve(connection, prefix: str) -> None:
    player, listener = Player(f"{prefix}-player"), Listener(f"{prefix}-listener")
    connection.send((player.port, listener.port))
    while True:
        command, argument = connection.recv()
        if command == "play":
            events, origin = argument
            player.play(events, origin)
            connection.send(None)
        elif command == "received":
            connection.send(listener.received)
        elif command == "clear":
            listener.clear()
            connection.send(None)
        else:  # close
            player.close()
            listener.close()
            connection.send(None)
            return


class RemoteRig:
    """Player and listener in a child process; the same ``play`` / ``received`` as in-process."""

    def __init__(self, prefix: str = "bench"):
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, prefix), daemon=True)
        self._process.start()
        self.player_port, self.listener_port = self._connection.recv()

    def _call(self, command: str, argument=None):
        self._connection.send((command, argument))
        return self._connection.recv()

    def play(self, events, origin: float) -> None:
        self._call("play", (events, origin))

    @property
    def received(self):
        return self._call("received")

    def clear(self) -> None:
        self._call("clear")

    def close(self) -> None:
        self._call("close")
        self._process.join(5)
