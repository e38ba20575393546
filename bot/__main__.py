"""``python -m bot`` is the same as ``hisbot``."""

import sys

from bot.cli.main import main

if __name__ == "__main__":  # not when a worker process (``--jobs``) imports it
    sys.exit(main())
