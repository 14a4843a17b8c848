import sys

from selfsup.cli.main import main

sys.exit(main())
