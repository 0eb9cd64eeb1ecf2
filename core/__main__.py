"""`python -m core <verb>`: the command line of Glassbox (train, evaluate, classify, transcribe, translate, bench).

This is the CLI's composition root, a front end like app.py: it names every lab package whose verbs it offers.
"""
import sys

from core import bench, cards, cli, translation, vision
from core.speech import cli as speech_cli

REGISTRARS = [vision.register, speech_cli.register, translation.register, bench.register, cards.register]


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, REGISTRARS)


if __name__ == "__main__":
    sys.exit(main())
