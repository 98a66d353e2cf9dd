"""The `striate` command line: parses arguments, calls the library, maps user errors to one line and exit code 2."""

from __future__ import annotations

import inspect
import json
import types
import typing
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from striate.errors import StriateError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="striate: convolutional neural networks from data to a trained, explained model.")
console = Console(stderr=True)


@contextmanager
def user_errors():
    """Print a `StriateError` as one line on stderr and exit with code 2; anything else is a bug and keeps its trace."""
    try:
        yield
    except StriateError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


def train(config: Path | None = None, quiet: bool = False, **flags) -> None:
    """Train a network and write a run folder (weights, config, metrics, plots)."""
    from striate.config import load_config
    from striate.train.job import train as run_training

    with user_errors():
        run = run_training(load_config(config, **flags), console=console, quiet=quiet)
    typer.echo(str(run.path))


def _cli_type(annotation) -> type | None:
    """The CLI type of a config field: scalars as they are, Literal as str, lists as repeatable options."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _cli_type(args[0])
    if typing.get_origin(annotation) is typing.Literal:
        return str
    if typing.get_origin(annotation) is list:
        return list[float] if args == [float] else list[str]
    return annotation if annotation in (int, float, str, bool) else None


def _train_signature() -> inspect.Signature:
    """`striate train`'s options, generated from `RunConfig` so that flags, YAML keys and defaults never drift."""
    from striate.config import RunConfig

    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("config", keyword, annotation=Path | None, default=typer.Option(
                  None, "--config", "-c", help="YAML file of options; flags override it")),
              inspect.Parameter("quiet", keyword, annotation=bool, default=typer.Option(
                  False, "--quiet", "-q", help="no progress bar or summary table"))]
    for name, field in RunConfig.model_fields.items():
        kind = _cli_type(field.annotation)
        if kind is None:
            continue  # mappings (model_args) are set in YAML only
        flag = "--" + name.replace("_", "-")
        default = field.get_default(call_default_factory=True)
        decls = [f"{flag}/--no-{flag[2:]}"] if kind is bool else [flag]
        shown = "" if default in (None, []) else f" (default: {default})"
        option = typer.Option(None, *decls, help=f"{field.description}{shown}", show_default=False)
        params.append(inspect.Parameter(name, keyword, annotation=kind | None, default=option))
    return inspect.Signature(params)


train.__signature__ = _train_signature()
train.__annotations__ = {p.name: p.annotation for p in train.__signature__.parameters.values()}
app.command()(train)


@app.command()
def evaluate(
    run: Path = typer.Argument(..., help="run folder written by `striate train`"),
    data: str | None = typer.Option(None, help="dataset to evaluate on [the run's own]"),
    as_json: bool = typer.Option(False, "--json", help="print the metrics as JSON"),
) -> None:
    """Accuracy, loss and per-class accuracy of a trained run on a test set."""
    from striate.runs import load

    with user_errors():
        metrics = load(run).evaluate(data)
    if as_json:
        typer.echo(json.dumps({key: value for key, value in metrics.items() if key != "confusion"}, indent=2))
        return
    table = Table(title=f"{metrics['data']}: {metrics['images']:,} test images")
    table.add_column("class")
    table.add_column("accuracy", justify="right")
    for cls, accuracy in metrics["per_class"].items():
        table.add_row(cls, f"{accuracy:.2%}")
    table.add_section()
    table.add_row("[bold]all", f"[bold]{metrics['accuracy']:.2%}")
    Console().print(table)
    typer.echo(f"accuracy {metrics['accuracy']:.4f}  loss {metrics['loss']:.4f}")


@app.command()
def predict(
    run: Path = typer.Argument(..., help="run folder written by `striate train`"),
    images: list[Path] = typer.Argument(..., help="PNG or JPEG files"),
    top_k: int = typer.Option(3, "--top-k", "-k", min=1, help="classes to show per image"),
    as_json: bool = typer.Option(False, "--json", help="print the predictions as JSON"),
) -> None:
    """Top-k classes with probabilities for image files."""
    from striate.runs import load

    with user_errors():
        predictions = load(run).predict(images, top_k=top_k)
    if as_json:
        typer.echo(json.dumps(predictions, indent=2))
        return
    for prediction in predictions:
        for note in prediction["notes"]:
            typer.echo(f"note: {prediction['source']}: {note} to match the model's input", err=True)
        ranked = ", ".join(f"{cls} {p:.1%}" for cls, p in prediction["top"])
        typer.echo(f"{prediction['source']}: {ranked}")


def parse_shape(text: str) -> tuple[int, ...]:
    """'1x28x28' -> (1, 28, 28)."""
    from striate.errors import ConfigError

    try:
        shape = tuple(int(part) for part in text.lower().replace(",", "x").split("x"))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise ConfigError(f"Invalid `--input`: expected sizes joined by x without the batch, e.g. 1x28x28, "
                          f"received {text!r}.")
    return shape


@app.command()
def summary(
    target: str = typer.Argument(..., help="zoo model name, model spec or run config YAML, or a run folder"),
    input_shape: str | None = typer.Option(None, "--input", "-i", help="input without the batch, e.g. 3x32x32"),
    num_classes: int = typer.Option(10, "--num-classes", help="classes of the classifier head"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Per-layer output shapes, parameters, receptive fields, jumps and MACs, with totals and tiling warnings."""
    from striate.models.resolve import model_from_target
    from striate.summary import summarize

    with user_errors():
        model, shape = model_from_target(target, parse_shape(input_shape) if input_shape else None, num_classes)
        result = summarize(model, shape)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        result.print(Console(width=max(Console().width, 140)))


@app.command("models")
def list_models_command(as_json: bool = typer.Option(False, "--json", help="print the list as JSON")) -> None:
    """List the architectures `--model` accepts, with their paper, default input and parameter count."""
    from striate.models import list_models

    rows = [{"name": e.name, "paper": e.paper, "input": "x".join(map(str, e.input_shape)),
             "parameters": _count_on_meta(e.name), "description": e.description} for e in list_models()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="striate models (parameters at the default input and class count)")
    for column in ("name", "paper", "input", "parameters", "description"):
        table.add_column(column, justify="right" if column == "parameters" else "left")
    for row in rows:
        table.add_row(row["name"], row["paper"], row["input"], f"{row['parameters']:,}", row["description"])
    Console(width=max(Console().width, 160)).print(table)


def _count_on_meta(name: str) -> int:
    """Parameters of a zoo model, built on the meta device: no memory or time spent on 100M-parameter weights."""
    import torch

    from striate.models import create

    with torch.device("meta"):
        return sum(p.numel() for p in create(name).parameters())


@app.command("datasets")
def list_datasets_command() -> None:
    """List the datasets `--data` accepts."""
    from striate.data import DATASETS

    for name, description in DATASETS.items():
        typer.echo(f"{name:14s} {description}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
