import sys

from segdash.cli import main

sys.exit(main())
