"""The Textual dashboard (``livemelody`` with no subcommand, ``livemelody demo``)."""
