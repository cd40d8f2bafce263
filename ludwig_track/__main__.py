import sys

from ludwig_track.cli import main

sys.exit(main())
