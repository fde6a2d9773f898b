import sys

from robustrepro.cli import main

sys.exit(main())
