"""What the tests, the benchmarks and the tools share to drive livemelody from outside: a
private JACK server with player and listener clients (:mod:`testkit.jack`), a real terminal
in tmux (:mod:`testkit.terminal`), and polling helpers (:mod:`testkit.waiting`).

Not part of the runtime: nothing in ``livemelody/`` imports it.
"""
