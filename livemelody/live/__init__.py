"""The live instrument: on-the-fly call encoding, streaming answers, scheduling, safety.

Data flow: MIDI in (stamped) -> :class:`~livemelody.live.engine.EngineCore` (call tracker,
streaming LSTMs, state machine) -> :class:`~livemelody.live.scheduler.Scheduler` (owns every
sounding note) -> MIDI out. :mod:`livemelody.live.loop` drives them on one real-time thread;
:mod:`livemelody.live.process` runs that loop in its own process under a supervisor.
"""
