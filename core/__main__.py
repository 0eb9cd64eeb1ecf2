"""`python -m core <verb>`: the command line of Glassbox (train, evaluate, classify, transcribe, translate, bench)."""
import sys

from core.cli import main

if __name__ == "__main__":
    sys.exit(main())
