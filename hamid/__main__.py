import sys

from hamid.cli import main

sys.exit(main())
