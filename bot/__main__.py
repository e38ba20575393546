"""``python -m bot`` is the same as ``hisbot``."""

import sys

from bot.cli.main import main

sys.exit(main())
