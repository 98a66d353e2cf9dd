"""The `striate` command line: parses arguments, calls the library, maps user errors to one line and exit code 2."""

from __future__ import annotations

import inspect
import json
import math
import types
import typing
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from striate.errors import ConfigError, StriateError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="striate: convolutional neural networks from data to a trained, explained model.")
console = Console(stderr=True)


@contextmanager
def user_errors():
    """Print a `StriateError` as one line on stderr and exit with code 2 (or the error's own `exit_code`); anything
    else is a bug and keeps its trace. A process `striate train --nproc` launched leaves the line to its launcher,
    which prints the one that explains the failure, once."""
    try:
        yield
    except StriateError as error:
        from striate.train.distributed import report_failure

        if not report_failure(error):
            typer.echo(f"error: {error}", err=True)
        raise typer.Exit(getattr(error, "exit_code", 2)) from None


def train(config: Path | None = None, quiet: bool = False, resume: Path | None = None, **flags) -> None:
    """Train a network and write a run folder (weights, config, metrics, plots, report.html, checkpoints).

    `--resume RUN` continues an interrupted run from its last checkpoint, or a finished one with a larger `--epochs`.
    """
    import os

    from striate.config import RunConfig, load_config
    from striate.train.distributed import HANDOFF
    from striate.train.job import train as run_training

    with user_errors():
        for name, field in RunConfig.model_fields.items():
            if typing.get_origin(field.annotation) is dict and flags.get(name) is not None:
                flags[name] = _mapping(name, flags[name])
        if resume is not None:
            run = run_training(config, resume=resume, console=console, quiet=quiet, **flags)
        else:
            run = run_training(load_config(config, **flags), console=console, quiet=quiet)
    if run is not None and not os.environ.get(HANDOFF):  # None: a process torchrun started, other than rank 0;
        typer.echo(str(run.path))  # HANDOFF: rank 0 of processes `--nproc` launched, whose launcher prints it


def _mapping(name: str, items: list[str]) -> dict:
    """`--model-args widths=[16,32] --model-args dropout=0.2` -> {"widths": [16, 32], "dropout": 0.2} (YAML values)."""
    import yaml

    from striate.errors import ConfigError

    result = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise ConfigError(f"Invalid `--{name.replace('_', '-')}` {item!r}: expected KEY=VALUE, e.g. "
                              f"--{name.replace('_', '-')} dropout=0.2.")
        try:
            result[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"Invalid `--{name.replace('_', '-')}` {item!r}: the value is not valid YAML.") from None
    return result


def _cli_type(annotation) -> type | None:
    """The CLI type of a config field: scalars as they are, Literal as str, lists as repeatable options."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _cli_type(args[0])
    if typing.get_origin(annotation) is typing.Literal:
        return str
    if typing.get_origin(annotation) is list:
        return list[float] if args == [float] else list[str]
    if typing.get_origin(annotation) is dict:
        return list[str]  # repeatable KEY=VALUE, parsed by `_mapping`
    return annotation if annotation in (int, float, str, bool) else None


def _train_signature() -> inspect.Signature:
    """`striate train`'s options, generated from `RunConfig` so that flags, YAML keys and defaults never drift."""
    from striate.config import RunConfig

    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("config", keyword, annotation=Path | None, default=typer.Option(
                  None, "--config", "-c", help="YAML file of options; flags override it")),
              inspect.Parameter("quiet", keyword, annotation=bool, default=typer.Option(
                  False, "--quiet", "-q", help="no progress bar or summary table")),
              inspect.Parameter("resume", keyword, annotation=Path | None, default=typer.Option(
                  None, "--resume", help="continue this run folder from its last checkpoint (with a larger --epochs: "
                                         "extend a finished run)"))]
    for name, field in RunConfig.model_fields.items():
        kind = _cli_type(field.annotation)
        if kind is None:
            continue
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


ENGINE_OPTION = typer.Option("auto", "--engine", help="torch, onnx (onnxruntime on RUN/model.onnx, exported first "
                                                       "when missing or stale) or auto (onnx, else torch with a note)")


def _engine_notes(run) -> None:
    for note in run.engine_notes:
        typer.echo(f"note: {note}", err=True)


@app.command("export")
def export_command(
    run: Path = typer.Argument(..., help="run folder written by `striate train`"),
    format: str = typer.Option("onnx", "--format", help="onnx"),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch", help="any batch size [a fixed batch of 2]"),
    opset: int | None = typer.Option(None, "--opset", help="ONNX opset [18]"),
    quantize: str | None = typer.Option(None, "--quantize", help="int8: also write MODEL.int8.onnx, with its test "
                                                                 "accuracy and speed against the float model"),
    out: Path | None = typer.Option(None, "--out", help="the file to write [RUN/model.onnx]"),
) -> None:
    """Export a run to ONNX with its preprocessing and test-time augmentation inside the graph, check it against
    PyTorch on a random batch and on the run's test samples, and write it only when the check passes."""
    from striate.export import export_run
    from striate.runs import load

    with user_errors():
        exported = export_run(load(run), out, format=format, opset=opset, dynamic_batch=dynamic_batch,
                              quantize=quantize)
    for line in exported.check.lines():
        typer.echo(line)
    if exported.quantized:
        typer.echo(exported.quantized["summary"])
    typer.echo(f"{exported.path}: opset {exported.opset}, {'dynamic' if exported.dynamic_batch else 'fixed'} batch, "
               f"exported and checked in {exported.seconds:.1f} s")


@app.command()
def evaluate(
    run: Path = typer.Argument(..., help="run folder written by `striate train`"),
    data: str | None = typer.Option(None, help="dataset to evaluate on [the run's own test data]"),
    as_json: bool = typer.Option(False, "--json", help="print the metrics as JSON"),
    engine: str = ENGINE_OPTION,
) -> None:
    """The task's test metrics for a trained run, with a per-class, per-label or per-target table."""
    from striate.runs import load

    with user_errors():
        loaded = load(run, engine=engine)
        metrics = loaded.evaluate(data)
    _engine_notes(loaded)
    task = loaded.task
    if as_json:
        typer.echo(json.dumps({key: value for key, value in metrics.items() if key != "confusion"}, indent=2))
        return
    table = task.details_table(metrics)
    if table is not None:
        table.title = f"{metrics['data']}: {metrics['examples']:,} test examples"
        Console().print(table)
    typer.echo("  ".join(f"{label} {value}" for label, value in task.summary_rows(metrics)))
    baselines = task.baselines_table(metrics, metrics.get("baselines"))
    if baselines is not None:
        Console().print(baselines)


@app.command()
def predict(
    run: Path = typer.Argument(..., help="run folder written by `striate train`"),
    inputs: list[str] = typer.Argument(..., help="image files (image runs), sentences (text runs), .npy/.csv "
                                                 "files of series (series runs), video files and folders of frames "
                                                 "(clip runs), or .npy volumes and .xyz atoms (volume runs)"),
    top_k: int = typer.Option(3, "--top-k", "-k", min=1, help="classes to show per input"),
    as_json: bool = typer.Option(False, "--json", help="print the predictions as JSON"),
    engine: str = ENGINE_OPTION,
) -> None:
    """Predictions for new inputs: top-k classes, present labels, or values, by the run's task."""
    from striate.runs import load

    with user_errors():
        loaded = load(run, engine=engine)
        predictions = loaded.predict(_cli_inputs(inputs, loaded.input_kind), top_k=top_k)
    _engine_notes(loaded)
    if as_json:
        typer.echo(json.dumps(predictions, indent=2))
        return
    for prediction in predictions:
        for note in prediction["notes"]:
            typer.echo(f"note: {prediction['source']}: {note} to match the model's input", err=True)
        typer.echo(f"{prediction['source']}: {loaded.task.describe_prediction(prediction)}")


@app.command("forecast")
def forecast_command(
    run: Path = typer.Argument(..., help="run folder of `striate train --data forecast:...`"),
    series: str = typer.Argument(..., help="a .csv (a column per series, or id,time,value rows) or .npz of series, "
                                           "or a series aeon ships (Airline, ...)"),
    horizon: int | None = typer.Option(None, "--horizon", "-H", help="steps ahead [the run's horizon]"),
    out: Path = typer.Option(Path("forecast.csv"), "--out", help="the CSV to write; its picture goes beside it "
                                                                 "(.png)"),
    backtest: bool = typer.Option(False, "--backtest", help="hold back each series' last H values, forecast them "
                                                            "and compare (truth in the CSV and the picture)"),
    engine: str = ENGINE_OPTION,
) -> None:
    """Forecast new data from the end of each series: a CSV of the median and every quantile per step, and a picture
    of the history with the forecast and its interval."""
    import numpy as np

    from striate.forecasting import forecast, write_forecasts
    from striate.runs import load

    with user_errors():
        loaded = load(run, engine=engine)
        found = forecast(loaded, series, horizon, backtest)
        paths = write_forecasts(found, out, f"{loaded.info['architecture']['name']} forecast of {series}")
    _engine_notes(loaded)
    for s, name in enumerate(found.names):
        median = found.quantiles[s, :, found.median]
        interval = (f", {found.levels[-1] - found.levels[0]:.0%} interval [{found.quantiles[s, -1, 0]:.4g}, "
                    f"{found.quantiles[s, -1, -1]:.4g}] at step {len(median)}") if len(found.levels) > 1 else ""
        versus = ""
        if found.truth is not None:
            truth = found.truth[s]
            versus = (f"; against the held-back truth MAE {np.abs(median - truth).mean():.4g}, sMAPE "
                      f"{100 * np.mean(2 * np.abs(median - truth) / (np.abs(median) + np.abs(truth) + 1e-12)):.2f}%")
        typer.echo(f"{name}: next {len(median)} steps {median[0]:.4g} ... {median[-1]:.4g}{interval}{versus}")
    typer.echo(f"wrote {paths[0]} and {paths[1]}")


@app.command()
def detect(
    series: str = typer.Argument(..., help="a .csv/.npz series or the name of a labelled series aeon ships (e.g. "
                                           "KDD-TSAD_135)"),
    method: str = typer.Option("sr-cnn", "--method", "-m", help="sr (spectral residual score) or sr-cnn (a CNN on "
                                                                 "the SR saliency map)"),
    threshold: float | None = typer.Option(None, "--threshold", help="decision threshold on the score [the F1-best "
                                                                      "one on anomalies injected into the training "
                                                                      "part]"),
    out: Path | None = typer.Option(None, "--out", help="folder for scores.csv, detection.json, detection.png "
                                                        "(and detector.safetensors) [runs/detect-NAME, numbered]"),
    run: Path | None = typer.Option(None, "--run", help="an earlier detection's folder: score with its options, "
                                                        "threshold and network, without training again"),
    mag_window: int = typer.Option(3, "--mag-window", help="q: width of the moving average over the log amplitude "
                                                           "spectrum"),
    score_window: int = typer.Option(21, "--score-window", help="z: preceding saliency values a point's score is "
                                                                "relative to"),
    extend: int = typer.Option(5, "--extend", help="kappa: estimated points appended to the series before the FFT"),
    look_back: int = typer.Option(5, "--look-back", help="m: preceding points whose slopes estimate the appended "
                                                         "points"),
    drop_mean: bool = typer.Option(False, "--drop-mean", help="leave the zero-frequency term out of the saliency "
                                                              "map"),
    window: int | None = typer.Option(None, "--window", help="omega: score each point from the omega points ending "
                                                             "at it (streaming) [the whole series at once]"),
    delay: int = typer.Option(7, "--delay", help="k: a labelled segment counts as detected when a point at most k "
                                                 "steps after its start is flagged"),
    train_size: int | None = typer.Option(None, "--train-size", help="points at the start that form the training "
                                                                     "part [the file's TRAIN part, else "
                                                                     "--train-fraction]"),
    train_fraction: float = typer.Option(0.25, "--train-fraction", help="share of the series that forms the "
                                                                        "training part"),
    steps: int = typer.Option(300, "--steps", help="sr-cnn: training steps"),
    seed: int = typer.Option(0, "--seed", help="seed of the injected anomalies and the CNN"),
    value_column: str | None = typer.Option(None, "--value-column", help="CSV: the column of values [`value`, or "
                                                                         "the only other column]"),
    label_column: str | None = typer.Option(None, "--label-column", help="CSV: the column of 0/1 labels [`label` "
                                                                         "or `is_anomaly` if present]"),
) -> None:
    """Anomalies in one series: the spectral residual, or SR-CNN (Ren et al. 2019); a score and a decision per step,
    precision, recall and F1 when the series has labels, and a picture of the detected and labelled regions."""
    from striate.anomaly import detect_command

    options = {"method": method, "threshold": threshold, "mag_window": mag_window, "score_window": score_window,
               "extend": extend, "look_back": look_back, "drop_mean": drop_mean, "window": window, "delay": delay,
               "train_size": train_size, "train_fraction": train_fraction, "steps": steps, "seed": seed,
               "value_column": value_column, "label_column": label_column}
    with user_errors():
        lines = detect_command(series, out=out, run=run, **options)
    for line in lines:
        typer.echo(line)


@app.command()
def serve(
    run: Path = typer.Argument(..., help="run folder written by `striate train`"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on; any other than loopback needs an "
                                                        "API key"),
    port: int = typer.Option(8000, "--port", help="TCP port"),
    workers: int = typer.Option(1, "--workers", help="processes, each with its own copy of the model"),
    engine: str = ENGINE_OPTION,
    api_key: str | None = typer.Option(None, "--api-key", envvar="STRIATE_API_KEY", show_envvar=True,
                                       help="token every request but /healthz must carry (Authorization: Bearer)"),
    max_batch: int = typer.Option(64, "--max-batch", help="the most inputs one forward pass takes"),
    batch_delay_ms: float = typer.Option(2.0, "--batch-delay-ms", help="how long a pass waits for more requests "
                                                                       "while some are arriving (0: never)"),
    max_inputs: int = typer.Option(64, "--max-inputs", help="the most inputs one request may carry"),
    max_upload_mb: float = typer.Option(10.0, "--max-upload-mb", help="the largest request body, in MiB"),
    timeout: float = typer.Option(10.0, "--timeout", help="seconds a request may take before it is answered 503"),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="log every request"),
) -> None:
    """Serve a run over HTTP: a web page at /, POST /v1/predict and /v1/explain, GET /v1/model, /healthz, /docs."""
    with user_errors():
        try:
            from striate.serve import Settings
            from striate.serve import serve as run_server
        except ImportError as error:
            raise ConfigError(f"`striate serve` needs the packages fastapi, uvicorn and python-multipart, found no "
                              f"{error.name}: pip install 'striate[serve]'.") from None
    settings = Settings(str(run), engine=engine, max_batch=max_batch, batch_delay_ms=batch_delay_ms,
                        max_inputs=max_inputs, max_upload_mb=max_upload_mb, timeout_s=timeout, api_key=api_key)
    with user_errors():
        from striate.runs import check_run_dir

        check_run_dir(run)
        run_server(settings, host=host, port=port, workers=workers, access_log=access_log)


@app.command()
def explain(
    run: Path = typer.Argument(..., help="run folder written by `striate train`"),
    inputs: list[str] | None = typer.Argument(None, help="inputs as `striate predict` takes them (none for "
                                                         "--method visualize)"),
    method: str = typer.Option("gradcam", "--method", "-m", help="gradcam, guided_gradcam, saliency, "
                                                                 "integrated_gradients, occlusion or visualize"),
    target: str | None = typer.Option(None, "--target", help="class name or index to explain [the predicted class]"),
    layer: str | None = typer.Option(None, "--layer", help="layer name as `striate summary RUN` lists it, for "
                                                           "gradcam, guided_gradcam, visualize [the last convolution]"),
    channel: int = typer.Option(0, "--channel", help="visualize: the channel of --layer to maximise"),
    window: int | None = typer.Option(None, "--window", min=1, help="occlusion: window size in positions "
                                                                    "[a seventh of the shortest side; 1 token]"),
    stride: int | None = typer.Option(None, "--stride", min=1, help="occlusion: step in positions [half the window]"),
    steps: int | None = typer.Option(None, "--steps", min=1, help="integrated gradients' interpolation steps "
                                                                "[50]; visualize's gradient-ascent steps [256]"),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="inputs per attribution call"),
    out: Path | None = typer.Option(None, "--out", help="folder for the PNGs [RUN/explanations]"),
) -> None:
    """Why the model predicted what it did: a PNG per input with the map overlaid and the top-3 classes.

    `--method visualize --layer L --channel C` instead synthesises the input that maximises channel C of layer L
    (Yosinski et al. 2015) beside the test inputs that activate it most.
    """
    from striate.explain import check_method, explain, save_explanations, save_visualization, visualize
    from striate.runs import load

    with user_errors():
        loaded = load(run)
        folder = out or loaded.path / "explanations"
        if check_method(method) == "visualize":
            found = visualize(loaded, layer, channel, **({"steps": steps} if steps else {}))
            typer.echo(f"{save_visualization(loaded, found, folder)}: layer {found.layer}, channel {channel}, "
                       f"activation {found.activation:.4g} (start {found.start:.4g})")
            return
        if not inputs:
            raise _no_inputs(method)
        explained = explain(loaded, _cli_inputs(inputs, loaded.input_kind), method, target, layer=layer,
                            window=window, stride=stride, steps=steps or 50, batch_size=batch_size)
        paths = save_explanations(loaded, explained, folder)
    for index, path in enumerate(paths):
        for note in explained.notes[index]:
            typer.echo(f"note: {explained.sources[index]}: {note} to match the model's input", err=True)
        row = loaded.task.format_prediction(explained.outputs[index], 3)
        typer.echo(f"{path}: {loaded.task.describe_prediction(row)}")


@app.command()
def report(run: Path = typer.Argument(..., help="run folder written by `striate train`")) -> None:
    """Write the run's report.html again (config, layer table, curves, schedule, the task's pictures, misclassified
    examples, filters, Grad-CAM, timing), redrawing the pictures it needs; prints its path."""
    from striate.report import write_report
    from striate.runs import load

    with user_errors():
        written = write_report(load(run))
    for problem in written.problems:
        typer.echo(f"note: could not draw {problem}", err=True)
    typer.echo(str(written.path))


@app.command()
def compare(
    runs: list[Path] = typer.Argument(..., help="two or more run folders written by `striate train`"),
    out: Path = typer.Option(Path("compare.html"), "--out", help="the page to write"),
) -> None:
    """One page setting several runs side by side: their curves overlaid, the settings that differ and the final
    metrics; prints its path."""
    from striate.report import write_comparison

    with user_errors():
        typer.echo(str(write_comparison(runs, out)))


def _no_inputs(method: str) -> StriateError:
    from striate.errors import ConfigError

    return ConfigError(f"No inputs to explain: expected image files, sentences or series files after the run folder "
                       f"for --method {method} (only --method visualize takes none).")


def _cli_inputs(inputs: list[str], kind: str):
    """Command-line arguments as `Run.predict` takes them: paths for images, text for text runs, arrays for series."""
    if kind == "tokens":
        return inputs
    if kind == "signal":
        from striate.predict import read_series_file

        return [series for name in inputs for series in read_series_file(Path(name))]
    return [Path(name) for name in inputs]


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
    if len(shape) > 4 or math.prod(shape) > MAX_INPUT_VALUES:
        raise ConfigError(f"Invalid `--input` {text!r}: expected at most 4 sizes (C, D, H, W) and at most "
                          f"{MAX_INPUT_VALUES:,} values per sample, found {len(shape)} sizes and "
                          f"{math.prod(shape):,} values.")
    return shape


MAX_INPUT_VALUES = 2**28
"""The largest sample `striate summary --input` builds (1 GiB of float32): a clip of 3x16x512x512 fits."""


@app.command()
def summary(
    target: str = typer.Argument(..., help="zoo model name, model spec or run config YAML, or a run folder"),
    input_shape: str | None = typer.Option(None, "--input", "-i", help="input without the batch, e.g. 3x32x32"),
    num_classes: int | None = typer.Option(None, "--num-classes", min=1,
                                           help="classes of the classifier head [the model's own]"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Per-layer output shapes, parameters, receptive fields, jumps and MACs, with totals and tiling warnings.

    A zoo name is summarised at its paper input and class count (AlexNet: 3x224x224, 1000 classes, as `striate
    models` lists it) unless `--input` / `--num-classes` say otherwise.
    """
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

    rows = [{"name": e.name, "paper": e.paper, "inputs": ", ".join(e.inputs),
             "input": "x".join(map(str, e.input_shape)), "parameters": _count_on_meta(e.name),
             "description": e.description} for e in list_models()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="striate models (parameters at the default input and class count)")
    for column in ("name", "paper", "inputs", "input", "parameters", "description"):
        table.add_column(column, justify="right" if column == "parameters" else "left")
    for row in rows:
        table.add_row(row["name"], row["paper"], row["inputs"], row["input"], f"{row['parameters']:,}",
                      row["description"])
    Console(width=max(Console().width, 160)).print(table)


def _count_on_meta(name: str) -> int:
    """Parameters of a zoo model, built on the meta device: no memory or time spent on 100M-parameter weights."""
    import torch

    from striate.models import create

    with torch.device("meta"):
        return sum(p.numel() for p in create(name).parameters())


@app.command("datasets")
def list_datasets_command(as_json: bool = typer.Option(False, "--json", help="print the list as JSON")) -> None:
    """List the datasets `--data` (and `--test-data`, `--val-data`) accept: NAME[:LOCATION][?key=value&...]."""
    from striate.data import list_datasets

    rows = [{"name": e.name + (f":{e.location}" if e.location else ""), "kinds": e.kinds,
             "description": e.description} for e in list_datasets()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="striate datasets (--data NAME[:LOCATION][?key=value&...])")
    for column in ("name", "kinds", "description"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["kinds"], row["description"])
    Console(width=max(Console().width, 160)).print(table)


def _add_groups() -> None:
    from striate.games.cli import games_app
    from striate.rl.cli import rl_app

    app.add_typer(rl_app, name="rl")
    app.add_typer(games_app, name="games")


_add_groups()


def main() -> None:
    """The `striate` command; parser errors (an unknown flag or command, `--lr abc`) are one line, exit code 2, too."""
    import sys

    try:
        code = app(standalone_mode=False, prog_name="striate")
    except typer.Abort:
        typer.echo("error: aborted.", err=True)
        sys.exit(130)
    except Exception as error:
        # The parser's usage errors (typer's bundled click: `UsageError`, exit code 2) carry `format_message`; they
        # are matched by that contract, not by a private class. Anything else is a bug and keeps its traceback.
        if getattr(error, "exit_code", None) != 2 or not hasattr(error, "format_message"):
            raise
        context = getattr(error, "ctx", None)
        command = getattr(context, "command_path", None) or "striate"  # `striate rl train`, not `striate train`
        message = " ".join(error.format_message().split()).rstrip(".")
        typer.echo(f"error: {message} (see `{command} --help`).", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
