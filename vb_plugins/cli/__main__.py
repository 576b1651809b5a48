import sys

from vb_plugins.cli import main

sys.exit(main())
