"""``python -m livemelody``: the same as the ``livemelody`` command."""

import sys

from livemelody.cli import main

sys.exit(main())
