import sys

from kateval.cli import main

sys.exit(main())
