"""`python -m core <verb>`: the command line of Glassbox (train, evaluate, classify, transcribe, translate, bench).

This is the CLI's composition root, a front end like app.py: it names every lab package whose verbs it offers.
"""
import sys

from core import bench, cards, cli
from core.speech import cli as speech_cli
from core.theory import cli as theory_cli
from core.translation import cli as translation_cli
from core.vision import cli as vision_cli

REGISTRARS = [vision_cli.register, speech_cli.register, translation_cli.register, bench.register, theory_cli.register,
              cards.register]


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, REGISTRARS)


if __name__ == "__main__":
    sys.exit(main())
