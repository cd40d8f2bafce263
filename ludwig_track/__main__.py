import sys

from ludwig_track.cli import main

if __name__ == "__main__":
    sys.exit(main())
