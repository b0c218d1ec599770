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
        help="compare deep and classical detectors on scikit-learn's digits and on textures",
        description=(
            "One digit is normal, the other nine are anomalies: each detector "
            "trains on half of the normal digit and is scored on the rest. "
            "Then textures with planted defects, where a deep detector also "
            "maps where each defect is. Prints tables of ROC AUC and fit time; "
            "writes CSVs and figures."
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
    demo.add_argument(
        "--no-textures", action="store_true",
        help="skip the textures with planted defects (the image task with anomaly maps)",
    )
    demo.set_defaults(run=None)
    add_commands(commands)
    args = parser.parse_args(argv)
    if args.run is not None:
        return run(args)

    if any(d not in range(10) for d in args.digits):
        parser.error("--digits takes digits from 0 to 9")
    from ._demo import run_demo

    run_demo(args.digits, args.output, args.random_state, textures=not args.no_textures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
