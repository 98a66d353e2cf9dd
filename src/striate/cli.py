"""The `striate` command line: parses arguments, calls the library, maps user errors to one line and exit code 2."""

from __future__ import annotations

import json
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


@app.command()
def train(
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML file of options; flags override it"),
    data: str | None = typer.Option(None, help="fashion-mnist[:DIR], digits, or folder:PATH [fashion-mnist]"),
    model: str | None = typer.Option(None, help="architecture name, see `striate models` [lenet5]"),
    epochs: int | None = typer.Option(None, help="passes over the training set [6]"),
    batch_size: int | None = typer.Option(None, help="images per training step [128]"),
    lr: float | None = typer.Option(None, help="peak learning rate [3e-3 adamw, 0.05 sgd]"),
    optimizer: str | None = typer.Option(None, help="adamw or sgd [adamw]"),
    momentum: float | None = typer.Option(None, help="SGD momentum [0.9]"),
    nesterov: bool | None = typer.Option(None, "--nesterov/--no-nesterov", help="Nesterov momentum with SGD [on]"),
    weight_decay: float | None = typer.Option(None, help="decoupled weight decay [0.05 adamw, 5e-4 sgd]"),
    schedule: str | None = typer.Option(None, help="onecycle, cosine or constant [onecycle]"),
    warmup: float | None = typer.Option(None, help="fraction of steps spent warming up [0.2]"),
    label_smoothing: float | None = typer.Option(None, help="label smoothing of the softmax loss [0]"),
    seed: int | None = typer.Option(None, help="seed; equal seeds repeat a CPU run exactly [0]"),
    device: str | None = typer.Option(None, help="auto, cpu, cuda or cuda:N [auto]"),
    out: str | None = typer.Option(None, help="folder holding run folders [runs]"),
    name: str | None = typer.Option(None, help="run folder name [MODEL-DATA, numbered if taken]"),
    val_split: float | None = typer.Option(None, help="fraction of training images held out for validation [0.1]"),
    train_size: int | None = typer.Option(None, help="use only this many training images"),
    test_size: int | None = typer.Option(None, help="use only this many test images"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar or summary table"),
) -> None:
    """Train a network and write a run folder (weights, config, metrics, plots)."""
    flags = {key: value for key, value in locals().items() if key not in {"config", "quiet"}}
    from striate.config import load_config
    from striate.train.job import train as run_training

    with user_errors():
        run = run_training(load_config(config, **flags), console=console, quiet=quiet)
    typer.echo(str(run.path))


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


@app.command("models")
def list_models_command() -> None:
    """List the architectures `--model` accepts."""
    from striate.models import create, list_models

    table = Table(title="striate models")
    for column in ("name", "paper", "input", "parameters", "description"):
        table.add_column(column, justify="right" if column == "parameters" else "left")
    for entry in list_models():
        params = sum(p.numel() for p in create(entry.name).parameters())
        table.add_row(entry.name, entry.paper, "x".join(map(str, entry.input_shape)), f"{params:,}", entry.description)
    Console().print(table)


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
