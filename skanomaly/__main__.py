"""Command line: ``skanomaly demo``, ``skanomaly fit`` and ``skanomaly score``
(or ``python -m skanomaly ...``); ``skanomaly COMMAND --help`` explains each."""

import argparse
import sys

from ._cli import add_commands, run


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="skanomaly",
        description="Anomaly detectors that are true scikit-learn estimators.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="compare deep and classical detectors on scikit-learn's digits",
        description=(
            "One digit is normal, the other nine are anomalies: each detector "
            "trains on half of the normal digit and is scored on the rest. "
            "Prints a table of ROC AUC and fit time; writes a CSV and a plot."
        ),
    )
    demo.add_argument(
        "--digits",
        type=int,
        nargs="+",
        default=list(range(10)),
        metavar="D",
        help="digits taken in turn as the normal class (default: all ten)",
    )
    demo.add_argument(
        "--output", default="demo_output", help="output folder (default: %(default)s)"
    )
    demo.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    demo.set_defaults(run=None)
    add_commands(commands)
    args = parser.parse_args(argv)
    if args.run is not None:
        return run(args)

    if any(d not in range(10) for d in args.digits):
        parser.error("--digits takes digits from 0 to 9")
    from ._demo import run_demo

    run_demo(args.digits, args.output, args.random_state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
