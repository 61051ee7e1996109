"""The ``kgimagine`` command. The only place that reads the environment and wires layers together.

Each layer has its own sub-app module (``cli/kg.py``, ``cli/predict.py``, ``cli/evaluate.py``,
``cli/train.py``); they import heavy libraries inside their commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from kgimagine.errors import KgimagineError

app = typer.Typer(
    name="kgimagine",
    help="Knowledge-graph-grounded counterfactual imagination for clinical-trial outcomes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from kgimagine.cli import kg

    app.add_typer(kg.app, name="kg", help="Build, inspect and export the knowledge graph.")
    for module_name, attr, kind in (
        ("kgimagine.cli.predict", "register", "predict"),
        ("kgimagine.cli.evaluate", "register", "eval"),
        ("kgimagine.cli.train", "register", "train"),
        ("kgimagine.cli.demo", "register", "demo"),
    ):
        try:
            module = __import__(module_name, fromlist=[attr])
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # that layer's CLI is not part of this build
            raise
        getattr(module, attr)(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: our errors become one line on stderr and exit code 1."""
    try:
        app(args=argv, standalone_mode=True)
    except KgimagineError as exc:
        print(f"kgimagine: error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
