"""Bad input, part 2: a table of bad inputs per command, each run through the real `striate` entry point.

Every row is one mistake a careless or hostile user can make; the promise checked for each is the CLI's: exit code 2,
exactly one line on stderr that starts with `error:` and says what was expected (the row's pattern), no traceback,
and for `train` no run folder left behind. New commands join the table as they land.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import striate
from striate.cli import main

TRAIN = ["train", "--data", "digits", "--epochs", "1", "--train-size", "64", "--test-size", "64", "--quiet"]
"""What every `train` row starts from (a row's own options come later and win): fails fast, or trains in a second."""


def t(*args: str) -> list[str]:
    return [*TRAIN, *args]


# (argv, pattern of the one line after "error: "); {f} is a folder of bad files, {run}, {series} and {text} finished
# runs of an image, a series and a text model, and {name} a damaged copy of {run} (see `world`).
TRAIN_ROWS = [
    # data
    (t("--data", "nope"), r"Unknown dataset `nope`: expected one of fashion-mnist.*Did you mean `npz`\?"),
    (t("--data", ""), r"Unknown dataset ``: expected one of"),
    (t("--data", ":"), r"Unknown dataset `:`"),
    (t("--data", "?x=1"), r"Unknown dataset `\?x=1`"),
    (t("--data", "digits:/somewhere"), r"dataset `digits` takes no location after the colon; use `digits`"),
    (t("--data", "digits?foo=1"), r"Unknown option `foo` for dataset `digits`: expected one of size\."),
    (t("--data", "fashion-mnist?foo=1"), r"Unknown option `foo` for dataset `fashion-mnist`: it takes no options"),
    (t("--data", "digits?&&"), r"expected key=value pairs joined by & after \?, received '&&'"),
    (t("--data", "fashion-mnist:/nope"), r"Fashion-MNIST not found: expected the four IDX \.gz files in /nope"),
    (t("--data", "folder:/nope"), r"Image folder not found: expected a folder at /nope, found nothing there"),
    (t("--data", "folder:{f}/afile"), r"Image folder not found: expected a folder at .*afile, found a file there"),
    (t("--data", "folder:{f}/adir"), r"expected at least 2 class sub-folders with images, found \[\]"),
    (t("--data", "folder:{f}/adir?labels={f}/labels.csv"), r"adir holds no PNG or JPEG images"),
    (t("--data", "npz:/nope.npz"), r"Invalid \.npz file /nope\.npz: expected an existing file, found nothing"),
    (t("--data", "npz:{f}/adir"), r"Invalid \.npz file .*adir: expected an existing file, found a folder"),
    (t("--data", "npz:{f}/notzip.npz"), r"expected an \.npz \(zip\) archive of named arrays, found a file that is not"),
    (t("--data", "npz:{f}/pickle.npz"), r"pickle\.npz: expected an \.npz archive, found unreadable data"),
    (t("--data", "npz:{f}/objx.npz"), r"expected numeric or string arrays, found a pickled object array"),
    (t("--data", "npz:{f}/nox.npz"), r"has no array `X`: expected keys X and y \(optional classes\), found y"),
    (t("--data", "npz:{f}/noy.npz"), r"has no array `y`: expected keys X and y"),
    (t("--data", "npz:{f}/extra.npz"), r"has an array `Z`: expected only X, y and classes"),
    (t("--data", "npz:{f}/mismatch.npz"), r"has 80 inputs in X and 5 targets in y: expected the same number"),
    (t("--data", "npz:{f}/emptyx.npz"), r"has 0 inputs in X and 0 targets in y: expected the same number, at least"),
    (t("--data", "npz:{f}/scalar.npz"), r"has a single number as `X`: expected an array with one entry per example"),
    (t("--data", "npz:{f}/x5d.npz"), r"has X of shape \(4, 1, 2, 2, 2, 2\) .*expected numeric \(N, L\) or \(N, C, L\)"),
    (t("--data", "npz:{f}/fy.npz", "--model", "fcn"), r"has missing or infinite regression targets: expected finite"),
    (t("--data", "npz:{f}/series.npz?target=bogus"), r"Invalid `target` 'bogus': expected one of auto, class, multi"),
    (t("--data", "csv:{f}/empty.csv"), r"empty\.csv holds 0 data rows: expected a header row and at least one example"),
    (t("--data", "csv:{f}/strings.csv"), r"has no column 'label': expected label_columns among a, b, c"),
    (t("--data", "csv:{f}/csv_text.csv"), r"csv_text\.csv line 2 column 'b': expected a number, found 'x'"),
    (t("--data", "csv:{f}/csv_ragged.csv"), r"line 2 has 2 fields: expected 3 as in the header"),
    (t("--data", "csv:{f}/bin.csv"), r"Cannot read CSV .*bin\.csv: expected UTF-8 comma-separated values"),
    (t("--data", "csv:{f}/csv_nolabel.csv", "--data-args", "label_columns=b"), r"The test part of .* is empty"),
    (t("--data", "npz:{f}/onecls.npz", "--model", "fcn"), r"holds examples of 1 class \(.0.\): expected at least 2"),
    (t("--data", "ts:{f}/bad.ts"), r"bad\.ts line 3: expected a number or '\?' in dimension 2, found 'a'"),
    (t("--data", "ts:/nope.ts"), r"Invalid \.ts file /nope\.ts: expected an existing file, found nothing"),
    (t("--data", "tsv:{f}/bad.tsv"), r"bad\.tsv line 1: expected a number in field 2, found 'b'"),
    (t("--data", "series-csv:{f}/strings.csv"), r"expected a label column `label`, found columns a, b, c"),
    (t("--data", "text:/nope.txt"), r"Text file not found: expected a file at /nope\.txt, found nothing there"),
    (t("--data", "text:{f}/adir"), r"Text file not found: expected a file at .*adir, found a folder there"),
    (t("--data", "text:{f}/empty.txt"), r"Empty text file .*empty\.txt: expected lines of `label sentence`"),
    (t("--data", "text:{f}/tiny.txt", "--model", "textcnn", "--data-args", "min_freq=-1"),
     r"Invalid `min_freq` for text data: expected a whole number of at least 1, received -1"),
    (t("--data", "text:{f}/tiny.txt", "--model", "textcnn", "--data-args", "min_freq=abc"),
     r"Invalid text option `min_freq`: expected an integer, received 'abc'"),
    (t("--data", "text:{f}/tiny.txt", "--model", "textcnn", "--data-args", "max_length=0"),
     r"Invalid `max_length` for text data: expected a whole number of at least 1, received 0"),
    (t("--data", "ucr:"), r"expected a name after `ucr:`, received nothing"),
    (t("--data", "ucr:NoSuchSet"), r"Unknown bundled data set `NoSuchSet`: expected one of .*GunPoint"),
    (t("--data", "ucr:../../etc/passwd"), r"Unknown bundled data set `\.\./\.\./etc/passwd`"),
    (t("--data", "ucr:GunPoint", "--data-args", "unequal=zigzag"), r"`unequal` 'zigzag': expected one of pad,"),
    (t("--data", "ucr:GunPoint", "--data-args", "normalize=weird"), r"`normalize` 'weird': expected one of channel"),
    (t("--data-args", "x"), r"Invalid `--data-args` 'x': expected KEY=VALUE"),
    (t("--data-args", "=1"), r"Invalid `--data-args` '=1': expected KEY=VALUE"),
    (t("--data-args", "bogus=1"), r"Unknown option `bogus` for dataset `digits`: expected one of size\."),
    (t("--test-data", "nope"), r"Unknown dataset `nope`"),
    (t("--test-data", "npz:{f}/series.npz"), r"has input_kind 'signal' but the training data has 'image': expected"),
    (t("--val-data", "npz:{f}/series.npz"), r"has input_kind 'signal' but the training data has 'image'"),
    (t("--val-data", "/nope"), r"Unknown dataset `/nope`"),
    (t("--split", "bogus"), r"Invalid config key `split` .*expected 'auto', 'stratified', 'random' or 'temporal'"),
    (t("--val-split", "0.0001"), r"The validation part of `digits` is empty: --val-split 0\.0001"),
    # task
    (t("--task", "bogus"), r"Unknown task `bogus`: expected one of classification, forecast, multilabel, regression"),
    (t("--data", "forecast:{f}/nothing.csv"), r"Series file not found: expected a \.csv or \.npz file .* at "
                                              r".*nothing\.csv, found nothing there"),
    (t("--data", "forecast:Airline?horizon=0"), r"Invalid `horizon`: expected a positive integer, received 0"),
    (t("--data", "forecast:Airline?horizon=abc"), r"Invalid forecast option `horizon`: expected an integer, received "
                                                  r"'abc'"),
    (t("--data", "digits?size=big"), r"Invalid digits option `size`: expected an integer, received 'big'"),
    (t("--data", "clips:/nope"), r"Clips not found: expected an \.npz file or a folder of class sub-folders at /nope, "
                                 r"found nothing there"),
    (t("--data", "moving-fashion?labels=both"), r"Invalid moving-fashion option `labels` 'both': expected one of "
                                                r"class, direction"),
    (t("--data", "volumes:/nope"), r"Volumes not found: expected an \.npz file or a folder at /nope"),
    (t("--data", "shapes3d?samples=abc"), r"Invalid `samples`: expected a whole number, received 'abc'"),
    (t("--data", "activity-survival?size=many"), r"Invalid activity-survival option `size`: expected an integer, "
                                                 r"received 'many'"),
    (t("--data", "survival:/nope.npz"), r"Survival data not found: expected an \.npz or \.csv file at /nope\.npz"),
    (t("--data", "forecast:Airline?lookback=200"), r"has 144 points: expected at least 224 for a look-back of 200"),
    (t("--data", "forecast:Airline", "--model", "fcn"), r"Invalid `model` 'fcn' for the forecast task: it needs a "
                                                        r"model taking instance_norm"),
    (t("--data", "forecast:Airline", "--loss", "absolute", "--task-args", "quantiles=[0.1,0.9]"),
     r"Invalid `quantiles` for the absolute loss: a point forecast has none"),
    (t("--task", "regression"), r"the regression task needs real targets, the data has class targets; use --task"),
    (t("--task", "multilabel"), r"the multilabel task needs multilabel targets"),
    (t("--task-args", "threshold=abc"), r"Unknown argument `threshold` for the classification task: expected one of"),
    (t("--task-args", "threshold"), r"Invalid `--task-args` 'threshold': expected KEY=VALUE"),
    (t("--data", "digits-attributes", "--task-args", "threshold=2"), r"`threshold`: expected a value in \(0, 1\)"),
    (t("--data", "digits-attributes", "--label-smoothing", "0.1"), r"they apply to classification only; remove them"),
    (t("--loss", "bogus"), r"Invalid `loss` 'bogus' for the classification task: expected one of softmax"),
    (t("--class-weights", "1", "--class-weights", "2"), r"expected one value per class \(10\), received 2 values"),
    (t("--class-weights", "-1", *["--class-weights", "1"] * 9), r"expected finite non-negative values"),
    (t("--class-weights", "nan", *["--class-weights", "1"] * 9), r"`class_weights\.0` .*expected a finite number"),
    # model
    (t("--model", "nope"), r"Unknown model `nope`: expected one of alexnet, .*vgg16"),
    (t("--model", "resnet"), r"Unknown model `resnet`: .*Did you mean `resnet\d+`\?"),
    (t("--model", "./mynet"), r"a path must name a model spec file ending in \.yaml or \.yml"),
    (t("--model", "{f}/adir"), r"a path must name a model spec file ending in \.yaml or \.yml"),
    (t("--model", "{f}/nope.yaml"), r"Model spec not found: .*nope\.yaml \(expected a YAML file\)"),
    (t("--model", "{f}/bad.yaml"), r"Invalid YAML in model spec .*: expected the node content.* at line 2, column 1"),
    (t("--model", "{f}/tag.yaml"), r"could not determine a constructor for the tag .*python/object/apply:os\.system"),
    (t("--model", "{f}/bin.yaml"), r"Cannot read model spec .*bin\.yaml: 'utf-8' codec can't decode"),
    (t("--model", "{f}/list.yaml"), r"expected a mapping with a `layers` list, received a list"),
    (t("--model", "{f}/spec_str.yaml"), r"expected a mapping with a `layers` list, received a str"),
    (t("--model", "{f}/anchors.yaml"), r"it holds more than 1,000,000 values \(YAML aliases expanded\)"),
    (t("--model", "{f}/dup.yaml"), r"Duplicate key 'epochs' at line 2: expected each key once per mapping"),
    (t("--model", "{f}/spec_badlayer.yaml"), r"Unknown layer type `teleport` at layer 0: expected one of the \d+"),
    (t("--model", "{f}/spec_neg.yaml"), r"Invalid layer 0 \(conv2d\): .*negative dimension -4"),
    (t("--model", "{f}/spec_kernel.yaml"), r"`kernel_size` for layer 0 \(conv2d\): expected at most the padded input"),
    (t("--model", "{f}/spec_nolayers.yaml"), r"Missing key `layers` for model spec"),
    (t("--model", "{f}/spec_badkey.yaml"), r"Unknown argument `colour` for layer 0 \(conv2d\): expected one of bias"),
    (t("--model", "{f}/spec_repeat.yaml"), r"it expands to more than 10,000 layers"),
    (t("--model", "{f}/spec_huge.yaml", "--model-args", "x=1"), r"`model_args` for a spec file: they apply to zoo"),
    (t("--model-args", "nosuch=1"), r"Unknown argument `nosuch` for model `lenet5`: it takes no extra arguments"),
    (t("--model-args", "widths"), r"Invalid `--model-args` 'widths': expected KEY=VALUE"),
    (t("--model-args", "widths=[1,"), r"Invalid `--model-args` 'widths=\[1,': the value is not valid YAML"),
    (t("--model-args", "num_classes=3"), r"Model `lenet5` returned shape \(2, 3\): expected \(N, 10\) for the 10"),
    (t("--model", "convnet", "--model-args", "widths=[0]"), r"`features\.0\.0\.weight` would hold no weights"),
    (t("--model", "convnet", "--model-args", "widths=[-3]"), r"Invalid arguments for model `convnet` .*-3"),
    (t("--model", "convnet", "--model-args", "dropout=-1"), r"dropout probability has to be between 0 and 1"),
    (t("--model", "convnet", "--model-args", "widths=abc"), r"Invalid arguments for model `convnet` \(widths='abc'"),
    (t("--model", "convnet", "--model-args", "widths=[100000,100000,100000]"),
     r"Model `convnet` would have [\d,]+ parameters: expected at most 2,000,000,000"),
    (t("--model", "convnet", "--model-args", "bogus=1"), r"Unknown argument `bogus` for model `convnet`: expected one"),
    (t("--model", "textcnn"), r"Model `textcnn` takes tokens inputs, but the data holds image inputs of shape 1x8x8"),
    (t("--model", "fcn"), r"Model `fcn` takes signal inputs, but the data holds image inputs"),
    (t("--model", "c3d"), r"Model `c3d` takes clip inputs, but the data holds image inputs"),
    (t("--model", "alexnet"), r"Model `alexnet` cannot take inputs of shape 1x8x8: .*choose a model for this input"),
    (t("--model", "capsnet"), r"Model `capsnet` cannot take inputs of shape 1x8x8"),
    (t("--model", "dqn"), r"Model `dqn` cannot take inputs of shape 1x8x8"),
    (t("--data", "text:{f}/tiny.txt", "--model", "lenet5"), r"Model `lenet5` takes image inputs, but the data holds "
                                                            r"tokens inputs"),
    (t("--data", "npz:{f}/series.npz", "--model", "lenet5"), r"the data holds signal inputs of shape 1x32"),
    (t("--data", "npz:{f}/series.npz", "--model", "textcnn"), r"Model `textcnn` takes tokens inputs"),
    (t("--data", "text:{f}/tiny.txt", "--model", "fcn"), r"Model `fcn` takes signal inputs"),
    # numbers
    (t("--epochs", "0"), r"Invalid config key `epochs` \(passes over the training set\): expected greater than or"),
    (t("--epochs", "-1"), r"`epochs` .*expected greater than or equal to 1, received -1"),
    (t("--epochs", "1.5"), r"Invalid value for '--epochs': .*valid integer"),
    (t("--epochs", "99999999999999999999"), r"`epochs` .*expected less than or equal to 1000000"),
    (t("--batch-size", "0"), r"`batch_size` .*expected greater than or equal to 1, received 0"),
    (t("--batch-size", "-5"), r"`batch_size` .*received -5"),
    (t("--batch-size", "abc"), r"Invalid value for '--batch-size'"),
    (t("--eval-batch-size", "0"), r"`eval_batch_size` .*expected greater than or equal to 1"),
    (t("--lr", "-1"), r"`lr` .*expected greater than 0, received -1\.0"),
    (t("--lr", "0"), r"`lr` .*expected greater than 0, received 0\.0"),
    (t("--lr", "nan"), r"`lr` .*expected a finite number, received nan"),
    (t("--lr", "inf"), r"`lr` .*expected a finite number, received inf"),
    (t("--lr", "1e400"), r"`lr` .*expected a finite number, received inf"),
    (t("--lr", "abc"), r"Invalid value for '--lr'"),
    (t("--optimizer", "adam2"), r"`optimizer` .*expected 'adamw' or 'sgd', received 'adam2'"),
    (t("--momentum", "2"), r"`momentum` .*expected less than 1, received 2\.0"),
    (t("--momentum", "-1"), r"`momentum` .*expected greater than or equal to 0"),
    (t("--momentum", "nan"), r"`momentum` .*expected a finite number"),
    (t("--weight-decay", "-1"), r"`weight_decay` .*expected greater than or equal to 0"),
    (t("--weight-decay", "inf"), r"`weight_decay` .*expected a finite number, received inf"),
    (t("--schedule", "zigzag"), r"`schedule` .*expected 'onecycle', 'cosine' or 'constant'"),
    (t("--warmup", "2"), r"`warmup` .*expected less than 1"),
    (t("--warmup", "-0.5"), r"`warmup` .*expected greater than or equal to 0"),
    (t("--label-smoothing", "1.5"), r"`label_smoothing` .*expected less than 1"),
    (t("--label-smoothing", "-0.1"), r"`label_smoothing` .*expected greater than or equal to 0"),
    (t("--l1", "-1"), r"`l1` .*expected greater than or equal to 0"),
    (t("--l2", "nan"), r"`l2` .*expected a finite number"),
    (t("--max-norm", "0"), r"`max_norm` .*expected greater than 0"),
    (t("--max-norm", "-1"), r"`max_norm` .*expected greater than 0"),
    (t("--patience", "0"), r"`patience` .*expected greater than or equal to 1"),
    (t("--patience", "-1"), r"`patience` .*received -1"),
    (t("--patience", "2", "--val-split", "0"), r"Early stopping monitors `a validation metric` but `val_split` is 0"),
    (t("--monitor", "bogus"), r"Invalid `monitor` 'bogus' for early stopping: expected one of val_loss"),
    (t("--monitor", "val_loss", "--val-split", "0"), r"`monitor` 'val_loss' .*Did you mean `train_loss`\?"),
    (t("--patience", "2", "--monitor", "val_acc"), r"`monitor` 'val_acc' .*Did you mean `val_accuracy`\?"),
    (t("--min-delta", "-1"), r"`min_delta` .*expected greater than or equal to 0"),
    (t("--min-delta", "nan"), r"`min_delta` .*expected a finite number"),
    (t("--seed", "-1"), r"`seed` .*expected greater than or equal to 0"),
    (t("--seed", "18446744073709551616"), r"`seed` .*expected less than 9223372036854775808"),
    (t("--val-split", "1.5"), r"`val_split` .*expected less than 1"),
    (t("--val-split", "1"), r"`val_split` .*expected less than 1, received 1\.0"),
    (t("--val-split", "-0.1"), r"`val_split` .*expected greater than or equal to 0"),
    (t("--val-split", "nan"), r"`val_split` .*expected a finite number"),
    (t("--train-size", "0"), r"`train_size` .*expected greater than or equal to 1"),
    (t("--train-size", "-1"), r"`train_size` .*received -1"),
    (t("--test-size", "0"), r"`test_size` .*expected greater than or equal to 1"),
    (t("--test-size", "-3"), r"`test_size` .*received -3"),
    # augmentation, test-time augmentation, word vectors
    (t("--augment", "blur"), r"Unknown augmentation `blur`: expected one of crop, pad_crop, hflip"),
    (t("--augment", ""), r"Unknown augmentation ``"),
    (t("--augment", "crop:abc"), r"Invalid `--augment crop:abc`: expected name:key=value,key=value"),
    (t("--augment", "hflip:2"), r"Invalid `--augment hflip:2`"),
    (t("--data", "npz:{f}/series.npz", "--model", "fcn", "--augment", "hflip"),
     r"Invalid `augment` for signal data: the batch augmentations are for images"),
    (t("--tta", "bogus"), r"`tta` .*expected 'none' or 'hflip', received 'bogus'"),
    (t("--data", "text:{f}/tiny.txt", "--model", "textcnn", "--tta", "hflip"), r"`tta: hflip` mirrors images"),
    (t("--embeddings", "{f}/vectors.txt"), r"Invalid `embeddings` for image data: word vectors need text data"),
    (t("--data", "text:{f}/tiny.txt", "--model", "textcnn", "--embeddings", "/nope.txt"),
     r"Word-vector file not found: expected a file at /nope\.txt, found nothing there"),
    (t("--data", "text:{f}/tiny.txt", "--model", "textcnn", "--embeddings", "{f}/vectors.txt"),
     r"Malformed line 1 of .*vectors\.txt: expected a word and \d+ values"),
    # devices, folders and names
    (t("--device", "gpu"), r"Invalid `device`: expected auto, cpu, cuda or cuda:N, received 'gpu'"),
    (t("--device", "meta"), r"received 'meta' \(a device torch knows but cannot train on\)"),
    (t("--device", "cuda:99"), r"'cuda:99' requested but (CUDA is not available here|this machine has)"),
    (t("--out", "{f}/afile"), r"Invalid `out` .*afile': expected a folder for run folders, found a file"),
    (t("--out", "{f}/dangling"), r"Cannot create `out` folder .*dangling"),
    (t("--name", "../x"), r"Invalid `name` '\.\./x': expected a plain folder name"),
    (t("--name", "/abs"), r"Invalid `name` '/abs'"),
    (t("--name", "a\nb"), r"Invalid `name` 'a\\nb'"),
    (t("--name", ".hidden"), r"Invalid `name` '\.hidden'"),
    # config files
    (t("--config", "/nope.yaml"), r"Config file not found: expected a YAML file at /nope\.yaml"),
    (t("--config", "{f}/adir"), r"Config file not found: expected a YAML file at .*adir"),
    (t("--config", "{f}/bad.yaml"), r"Cannot parse config .*: expected YAML \(expected the node content.* line 2"),
    (t("--config", "{f}/list.yaml"), r"expected a mapping of keys to values, found list"),
    (t("--config", "{f}/scalar.yaml"), r"expected a mapping of keys to values, found int"),
    (t("--config", "{f}/tag.yaml"), r"could not determine a constructor for the tag"),
    (t("--config", "{f}/bin.yaml"), r"Cannot parse config .*bin\.yaml: expected YAML \('utf-8' codec"),
    (t("--config", "{f}/unknown.yaml"), r"Unknown config key `epochz`: expected one of .*Did you mean `epochs`\?"),
    (t("--config", "{f}/dup.yaml"), r"Duplicate key 'epochs' at line 2"),
    (t("--config", "{f}/anchors.yaml"), r"more than 1,000,000 values \(YAML aliases expanded\)"),
    (t("--config", "{f}/deep.yaml"), r"nest (more than 32 levels|lists or mappings too deeply)"),
    (t("--config", "{f}/loop.yaml"), r"Unknown key `model` for model spec: expected one of blocks"),
    (["train", "--config", "{f}/wrongtype.yaml", "--quiet"], r"`epochs` .*: expected a valid integer, .*received"),
    (["train", "--config", "{f}/booltype.yaml", "--quiet"], r"`epochs` .*expected a number, not the boolean True"),
    (["train", "--resume", "/nope", "--quiet"], r"Invalid `--resume` '/nope': expected a run folder written by"),
    (["train", "--resume", "{run}", "--lr", "0.1", "--quiet"], r"Invalid `lr` with --resume: a resumed run keeps its"),
    (["train", "--resume", "{only_config}", "--quiet"], r"has no checkpoint to resume from"),
    (["train", "--resume", "{run}", "--epochs", "1", "--quiet"], r"has already trained 1 epochs; give --epochs larger"),
    (t("--checkpoint-every", "0"), r"`checkpoint_every` .*expected greater than or equal to 1"),
    (t("--clip-grad-norm", "-1"), r"`clip_grad_norm` .*expected greater than 0"),
    (t("--nproc", "0"), r"`nproc` .*expected greater than or equal to 1"),
    (t("--nproc", "3"), r"Invalid `batch_size` \d+ for 3 processes: the global batch must split evenly over them; "
                        r"use a multiple of 3, e\.g\. --batch-size \d+"),
    (t("--max-restarts", "-1"), r"`max_restarts` .*expected greater than or equal to 0"),
    (t("--dist-timeout", "0"), r"`dist_timeout` .*expected greater than 0"),
    (t("--lr-scaling", "cubic"), r"`lr_scaling` .*expected 'none', 'linear' or 'sqrt'"),
    (t("--lr-base-batch", "0"), r"`lr_base_batch` .*expected greater than or equal to 1"),
    (["train", "--resume", "{run}", "--sync-batchnorm", "--quiet"], r"Invalid `sync_batchnorm` with --resume"),
    (t("--init-from", "/nope"), r"Invalid `init_from` '/nope': expected a finished run folder"),
    (t("--init-from", "{f}"), r"Invalid `init_from` .*: expected a finished run folder"),
    (t("--init-from", "{series}"), r"its model was trained on signal inputs .*`digits` holds image inputs"),
    (t("--init-from", "{run}", "--model", "convnet"), r"parameter `features\.0\.0\.weight` .* is missing there; train "
                                                      r"the same architecture"),
    (t("--init-from", "{run}", "--data", "digits-attributes", "--no-reset-head"),
     r"parameter `head\.weight` of shape \(4, \d+\) is of shape \(10, \d+\) there \(the head: the outputs differ"),
    (t("--freeze", "nope.*"), r"Invalid `freeze` pattern 'nope\.\*': expected a glob over parameter names"),
    (t("--freeze-until", "feature.3"), r"Invalid `freeze_until` 'feature\.3': .*Did you mean `features\.3`\?"),
    (t("--unfreeze-after", "2"), r"Invalid `unfreeze_after` without frozen parameters"),
    (t("--unfreeze-after", "0", "--freeze", "*"), r"`unfreeze_after` .*expected greater than or equal to 1"),
    (t("--body-lr-factor", "0"), r"`body_lr_factor` .*expected greater than 0"),
    (t("--body-lr-factor", "2"), r"`body_lr_factor` .*expected less than or equal to 1"),
    (t("--init-preprocessing", "fit"), r"`init_preprocessing` .*expected 'keep' or 'recompute'"),
    (t("--train-per-class", "0"), r"`train_per_class` .*expected greater than or equal to 1"),
    (t("--data", "digits?size=2"), r"Invalid digits option `size` 2: expected an integer from 4 to 512"),
    (["train", "--nproc", "2", "--unfreeze-after", "1", "--freeze", "*", "--data", "digits", "--quiet"],
     r"Invalid `unfreeze_after` with several processes"),
    (t("--bogus"), r"No such option: --bogus"),
    (t("--nme", "x"), r"No such option: --nme"),
    (["train", "stray"], r"Got unexpected extra argument\(s\) \(stray\)"),
    (["trian"], r"No such command 'trian'\. Did you mean 'train'\?"),
]

RUN_ROWS = [
    (["report", "/nope"], r"Run folder not found: expected a folder written by `striate train` at /nope, found "
                          r"nothing there"),
    (["report", "{f}"], r"is not a run folder: expected model\.json, model\.safetensors, config\.yaml"),
    (["report", "{f}/afile"], r"Run folder not found: .*afile, found a file there"),
    (["compare", "{run}"], r"Invalid runs for `compare`: expected at least two run folders, received 1"),
    (["compare", "{run}", "/nope"], r"Run folder not found: expected a folder written by `striate train` at /nope"),
    (["compare"], r"Missing argument"),
    # evaluate, predict and summary read run folders: missing, not a run, interrupted, edited or damaged
    (["evaluate", "/nope"], r"Run folder not found: expected a folder written by `striate train` at /nope, found "
                            r"nothing there"),
    (["evaluate", "{f}/afile"], r"Run folder not found: .*afile, found a file there"),
    (["evaluate", "{f}/dangling"], r"Run folder not found: .*dangling, found a link to nothing there"),
    (["evaluate", "{f}/adir"], r"adir is not a run folder: expected model\.json, model\.safetensors, config\.yaml"),
    (["evaluate", "{only_config}"], r"is incomplete: missing model\.json, model\.safetensors \(was training"),
    (["evaluate", "{incomplete}"], r"is incomplete: its training did not finish \(interrupted, failed or still"),
    (["evaluate", "{noweights}"], r"is incomplete: missing model\.safetensors"),
    (["evaluate", "{dirweights}"], r"is incomplete: missing model\.safetensors"),
    (["evaluate", "{nomodeljson}"], r"is incomplete: missing model\.json"),
    (["evaluate", "{badjson}"], r"Cannot read .*model\.json: expected JSON written by `striate train`"),
    (["evaluate", "{binjson}"], r"Cannot read .*model\.json: expected JSON .*codec can't decode"),
    (["evaluate", "{listjson}"], r"Unsupported run format in .*model\.json: expected 'striate\.run/1', found 'list'"),
    (["evaluate", "{truncweights}"], r"Cannot read weights .*model\.safetensors: expected a safetensors file"),
    (["evaluate", "{zeroweights}"], r"Cannot read weights .*: expected a safetensors file .*header too small"),
    (["evaluate", "{junkweights}"], r"Cannot read weights .*: expected a safetensors file"),
    (["evaluate", "{otherweights}"], r"Weights .*model\.safetensors do not match the architecture"),
    (["evaluate", "{badresults}"], r"Cannot read .*results\.json: expected JSON written by `striate train`"),
    (["evaluate", "{badconfig}"], r"Cannot read .*config\.yaml: expected the YAML written by `striate train` \(.*"),
    (["evaluate", "{moreclasses}"], r"the model has 10 outputs but `classes` names 11"),
    (["evaluate", "{zerostd}"], r"expected `std` to be positive standard deviations"),
    (["evaluate", "{run}", "--data", "nope"], r"Unknown dataset `nope`"),
    (["evaluate", "{run}", "--data", "fashion-mnist"], r"has labels \['Ankle boot', .* that the training data never"),
    (["evaluate", "{run}", "--data", "text:{f}/tiny.txt"], r"has input_kind 'tokens' but the training data has"),
    (["evaluate", "{run}", "--data", "npz:{f}/series.npz"], r"has input_kind 'signal' but the training data has"),
    (["evaluate", "{run}", "--data", "digits-attributes"], r"has target_kind 'multilabel' but the training data has"),
    (["evaluate", "{series}", "--data", "digits"], r"has input_kind 'image' but the training data has 'signal'"),
    (["evaluate", "{text}", "--data", "digits"], r"has input_kind 'image' but the training data has 'tokens'"),
    (["evaluate", "{run}", "extra"], r"Got unexpected extra argument\(s\) \(extra\)"),
    (["evaluate"], r"Missing argument 'run'"),
    # export and the inference engines
    (["export", "/nope"], r"Run folder not found: expected a folder written by `striate train` at /nope"),
    (["export", "{noweights}"], r"is incomplete: missing model\.safetensors"),
    (["export", "{incomplete}"], r"is incomplete: its training did not finish"),
    (["export", "{run}", "--format", "tflite"], r"Unknown export format 'tflite': expected one of onnx\.$"),
    (["export", "{run}", "--format", "onnxx"], r"Unknown export format 'onnxx': .* Did you mean `onnx`\?"),
    (["export", "{run}", "--opset", "11"], r"Invalid `--opset` 11: torch's exporter writes opsets 18 to 2\d\."),
    (["export", "{run}", "--opset", "abc"], r"Invalid value for '--opset'"),
    (["export", "{run}", "--quantize", "int4"], r"Invalid `--quantize` 'int4': expected one of int8\."),
    (["evaluate", "{run}", "--engine", "tensorrt"], r"Unknown engine 'tensorrt': expected one of torch, onnx, auto\."),
    (["predict", "{run}", "{f}/ok.png", "--engine", "onnxx"], r"Unknown engine 'onnxx': .* Did you mean `onnx`\?"),
    (["predict", "{incomplete}", "{f}/ok.png", "--engine", "onnx"], r"is incomplete: its training did not finish"),
    # predict
    (["predict", "{run}", "/nope.png"], r"Image not found: expected a PNG or JPEG file at /nope\.png, found nothing"),
    (["explain", "{run}", "{f}/ok.png", "--method", "gradcm"], r"Unknown explanation method `gradcm`: expected one of "
                                                                r"gradcam, .*Did you mean `gradcam`\?"),
    (["explain", "{run}", "{f}/ok.png", "--layer", "feature.3"],
     r"Unknown layer `feature\.3` in model `lenet5`: expected a module name .*Did you mean `features\.3`"),
    (["explain", "{run}", "--method", "visualize", "--layer", "features.3", "--channel", "99"],
     r"Invalid `channel` 99 for layer `features\.3`: expected 0 to 15"),
    (["explain", "{run}", "{f}/ok.png", "--target", "nope"], r"Unknown target class `nope`: expected a class name"),
    (["explain", "{run}", "/nope.png"], r"Image not found: expected a PNG or JPEG file at /nope\.png"),
    (["explain", "{run}", "{f}/text.png"], r"Cannot read image .*text\.png: expected a PNG or JPEG file"),
    (["explain", "/nope", "{f}/ok.png"], r"Run folder not found: expected a folder written by `striate train` at "
                                          r"/nope"),
    (["explain", "{run}"], r"No inputs to explain: expected image files, sentences or series files"),
    (["explain", "{run}", "{f}/ok.png", "--method", "occlusion", "--window", "0"],
     r"Invalid value for '--window': Input should be greater than or equal to 1"),
    # serve: every refusal comes before the server starts
    (["serve", "/nope"], r"Run folder not found: expected a folder written by `striate train` at /nope"),
    (["serve", "{incomplete}"], r"is incomplete: its training did not finish"),
    (["serve", "{run}", "--host", "0.0.0.0"], r"Refusing to serve on 0\.0\.0\.0 without an API key: expected "
                                              r"--api-key KEY or the environment variable STRIATE_API_KEY"),
    (["serve", "{run}", "--host", "0.0.0.0", "--api-key", "short"],
     r"Invalid API key: expected at least 16 characters, received 5"),
    (["serve", "{run}", "--host", "no-such-host.invalid"], r"Invalid `--host` 'no-such-host\.invalid': expected an "
                                                            r"address of this machine"),
    (["serve", "{run}", "--port", "70000"], r"Invalid `--port`: expected 0 to 65535, received 70000"),
    (["serve", "{run}", "--workers", "0"], r"Invalid `--workers`: expected a positive integer, received 0"),
    (["serve", "{run}", "--max-batch", "0"], r"Invalid `--max-batch`: expected a positive integer, received 0"),
    (["serve", "{run}", "--max-inputs", "-3"], r"Invalid `--max-inputs`: expected a positive integer, received -3"),
    (["serve", "{run}", "--timeout", "0"], r"Invalid `--timeout`: expected a positive number, received 0\.0"),
    (["serve", "{run}", "--batch-delay-ms", "-1"], r"Invalid `--batch-delay-ms`: expected 0 or more, received -1"),
    (["serve", "{run}", "--max-upload-mb", "abc"], r"Invalid value for '--max-upload-mb'"),
    (["serve", "{run}", "--engine", "nope"], r"Unknown engine|Invalid `--engine`"),
    (["forecast", "{run}", "Airline"], r"Run .* is a classification run: expected one trained with --task forecast"),
    (["forecast", "/nope", "Airline"], r"Run folder not found"),
    (["detect", "{f}/nothing.csv"], r"Invalid series '.*nothing\.csv': expected a \.csv or \.npz file or the name of a "
                                    r"labelled series aeon ships .*found nothing there"),
    (["detect", "KDD-TSAD_135", "--method", "bogus"], r"Invalid `method`: expected one of sr, sr-cnn, received "
                                                      r"'bogus'"),
    (["predict", "{run}", "{f}/adir"], r"Image not found: expected a PNG or JPEG file at .*adir, found a folder there"),
    (["predict", "{run}", "{f}/dangling"], r"found a link to nothing there"),
    (["predict", "{run}", "hello world"], r"Image not found: expected a PNG or JPEG file at hello world"),
    (["predict", "{run}", "{f}/text.png"], r"Cannot read image .*text\.png: expected a PNG or JPEG file"),
    (["predict", "{run}", "{f}/empty.png"], r"Cannot read image .*empty\.png: expected a PNG or JPEG file"),
    (["predict", "{run}", "{f}/trunc.png"], r"Cannot read image .*trunc\.png"),
    (["predict", "{run}", "{f}/ok.png", "--top-k", "0"], r"Invalid value for '--top-k' / '-k': .*greater than or"),
    (["predict", "{run}", "{f}/ok.png", "--top-k", "abc"], r"Invalid value for '--top-k'"),
    (["predict", "{run}"], r"Missing argument 'inputs'"),
    (["predict", "{incomplete}", "{f}/ok.png"], r"is incomplete: its training did not finish"),
    (["predict", "{series}", "/nope.npy"], r"Series file not found: expected a \.npy or \.csv file at /nope\.npy,"),
    (["predict", "{series}", "{f}/adir"], r"Series file not found: .*adir, found a folder there"),
    (["predict", "{series}", "{f}/obj.npy"], r"Object arrays cannot be loaded when allow_pickle=False"),
    (["predict", "{series}", "{f}/str.npy"], r"expected numbers in \.npy or comma-separated form, found an array of"),
    (["predict", "{series}", "{f}/garbage.npy"], r"Cannot read series file .*garbage\.npy: expected numbers"),
    (["predict", "{series}", "{f}/wrong.npy"], r"Invalid series of shape \(3, 4, 5\): expected \(1, L\) values"),
    (["predict", "{series}", "{f}/nan.npy"], r"Invalid series\[0\]: expected finite values .*found no values \(all"),
    (["predict", "{series}", "{f}/inf.npy"], r"Invalid series\[0\]: expected finite values .*found infinite values"),
    (["predict", "{series}", "{f}/strings.csv"], r"could not convert string 'a' to float32"),
    (["predict", "{series}", "{f}/empty.csv"], r"expected numbers in \.npy or comma-separated form, found no values"),
    (["predict", "{series}", "{f}/bin.csv"], r"'utf-8' codec can't decode"),
    (["predict", "{series}", "{f}/ok.png"], r"Cannot read series file .*ok\.png"),
    (["predict", "{text}", ""], r"Sentence 1 of 1 is empty: expected at least one word to classify"),
    (["predict", "{text}", "fine", "   "], r"Sentence 2 of 2 is empty"),
    # summary
    (["summary", "nope"], r"Unknown model `nope`: expected one of"),
    (["summary", "lenet5", "--input", "abc"], r"Invalid `--input`: expected sizes joined by x without the batch"),
    (["summary", "lenet5", "--input", "0x1"], r"Invalid `--input`: .*received '0x1'"),
    (["summary", "lenet5", "--input", "-1x28x28"], r"Invalid `--input`: .*received '-1x28x28'"),
    (["summary", "lenet5", "--input", "1x2x3x4x5x6"], r"expected at most 4 sizes .*found 6 sizes"),
    (["summary", "lenet5", "--input", "1x100000x100000"], r"at most 268,435,456 values per sample, found 3 sizes and "
                                                         r"10,000,000,000 values"),
    (["summary", "lenet5", "--num-classes", "0"], r"Invalid value for '--num-classes'"),
    (["summary", "alexnet", "--num-classes", "99999999999"], r"Model `alexnet` would have [\d,]+ parameters"),
    (["summary", "textcnn", "--input", "3x32x32"], r"Model `textcnn` takes tokens inputs"),
    (["summary", "{f}/spec_badlayer.yaml"], r"Unknown layer type `teleport`"),
    (["summary", "{f}/bad.yaml"], r"Invalid YAML in model spec"),
    (["summary", "{f}/tag.yaml"], r"could not determine a constructor for the tag"),
    (["summary", "{f}/anchors.yaml"], r"more than 1,000,000 values"),
    (["summary", "{f}/unknown.yaml"], r"Unknown config key `epochz`"),
    (["summary", "{f}/loop.yaml"], r"its `model` leads back to itself"),
    (["summary", "{f}/afile"], r"a path must name a model spec file ending in \.yaml or \.yml"),
    (["summary", "{f}/adir"], r"is not a run folder"),
    (["summary", "{incomplete}"], r"is incomplete: its training did not finish"),
    (["summary", "{badjson}"], r"Cannot read .*model\.json"),
    # listings
    (["models", "extra"], r"Got unexpected extra argument\(s\) \(extra\)"),
    (["models", "--json", "x"], r"Got unexpected extra argument\(s\) \(x\)"),
    (["datasets", "--bogus"], r"No such option: --bogus"),
]


RL = ["rl", "train", "--frames", "1k", "--quiet"]
"""What every `rl train` row starts from: MinAtar Breakout for 1,000 frames, refused before anything is written."""

RL_ROWS = [
    ([*RL, "--env", "ALE/Pongg-v5"], r"Unknown environment 'ALE/Pongg-v5': expected an Atari id such as "
                                     r"ALE/Pong-v5 .*Did you mean `ALE/Pong-v5`\?"),
    ([*RL, "--env", "MinAtar/Pacman"], r"Unknown MinAtar game 'Pacman': expected one of Asterix, Breakout"),
    ([*RL, "--env", "Nope-v0"], r"Unknown environment 'Nope-v0': expected an Atari id \(ALE/Pong-v5\), a MinAtar"),
    ([*RL, "--env", "CartPole-v1"], r"'CartPole-v1' does not observe images: expected uint8 observations of shape "
                                    r"\(H, W\), \(H, W, C\) or \(C, H, W\), found Box float32 of shape \(4,\)"),
    ([*RL, "--frames", "abc"], r"Invalid `--frames`: expected a count such as 500000, 500k or 10M, received 'abc'"),
    ([*RL, "--frames", "0"], r"Invalid `--frames`: expected a whole positive count, received '0'"),
    ([*RL, "--frames", "2.5"], r"Invalid `--frames`: expected a whole positive count, received '2\.5'"),
    ([*RL, "--buffer", "-5"], r"Invalid `--buffer`: expected a count such as 500000"),
    ([*RL, "--eval-every", "1e-3"], r"Invalid `--eval-every`: expected a count such as"),
    ([*RL, "--n-step", "0"], r"Invalid `n_step`: expected a positive integer, received 0"),
    ([*RL, "--envs", "0"], r"Invalid `envs`: expected a positive integer, received 0"),
    ([*RL, "--batch-size", "0"], r"Invalid `batch_size`: expected a positive integer, received 0"),
    ([*RL, "--train-every", "0"], r"Invalid `train_every`: expected a positive integer, received 0"),
    ([*RL, "--eval-episodes", "0"], r"Invalid `eval_episodes`: expected a positive integer, received 0"),
    ([*RL, "--lr", "-1"], r"Invalid `lr`: expected a positive learning rate such as 1e-4, received -1\.0"),
    ([*RL, "--threads", "0"], r"Invalid `threads`: expected a positive number of CPU threads, received 0"),
    ([*RL, "--buffer", "5"], r"Invalid `buffer`: expected at least learning_starts = 5,000 steps"),
    ([*RL, "--batch-size", "64", "--learning-starts", "10", "--buffer", "100"],
     r"Invalid `learning_starts`: expected at least batch_size = 64 steps"),
    ([*RL, "--envs", "64", "--buffer", "100", "--learning-starts", "32"],
     r"Invalid `buffer`: expected more than \(history \+ n_step\) x envs = 128 steps, received 100"),
    ([*RL, "--network", "lenet5"], r"Network 'lenet5' is not a Q-network: expected one of dqn, minatar_dqn"),
    ([*RL, "--network", "minatar_dq"], r"Unknown network 'minatar_dq': .*Did you mean `minatar_dqn`\?"),
    ([*RL, "--network", "dqn"], r"Network 'dqn' does not fit MinAtar/Breakout's observations of shape "
                                r"\(4, 10, 10\): its convolutions need larger screens; choose minatar_dqn"),
    ([*RL, "--n-stepp", "3"], r"No such option: --n-stepp"),
    (["rl", "train", "--resume", "{f}/adir"], r"Cannot resume .*adir: expected a folder written by `striate rl "
                                              r"train` \(with config\.yaml and agent\.json\)"),
    (["rl", "train", "--resume", "{run}"], r"Cannot resume .*: expected a folder written by `striate rl train`"),
    (["rl", "train", "--resume", "{rlnockpt}"], r"Cannot resume .*: expected a checkpoint in .*checkpoints, found "
                                                r"none"),
    (["rl", "play", "{run}"], r"Not a DQN run: expected .*agent\.json written by `striate rl train`"),
    (["rl", "play", "/nope"], r"Not a DQN run: expected /nope/agent\.json"),
    (["rl", "play", "{rl}", "--record", "{f}/game.png"], r"Invalid `--record` .*game\.png.: expected a \.gif file "
                                                         r"name, received \.png"),
    (["rl", "play", "{rl}", "--record", "/nope/dir/game.gif"], r"Invalid `--record` .*: expected a file in an "
                                                               r"existing folder; create /nope/dir first"),
    (["rl", "play", "{rl}", "--episodes", "0"], r"Invalid `--episodes`: expected at least 1 game, received 0"),
    (["rl", "evaluate", "{rl}", "--epsilon", "2"], r"Invalid `--epsilon`: expected a probability in \[0, 1\], "
                                                   r"received 2\.0"),
    (["rl", "evaluate", "{rlbroken}"], r"Cannot load .*model\.safetensors: expected the weights of minatar_dqn"),
    (["rl", "evaluate", "{rlnoweights}"], r"has no model\.safetensors: expected a finished run; resume it with "
                                          r"`striate rl train --resume"),
    (["rl", "evaluate", "{rlbadjson}"], r"Cannot read .*agent\.json: expected JSON written by `striate rl train`"),
    (["rl", "report", "{f}/adir"], r"Not a DQN run: expected .*adir/agent\.json"),
    (["rl", "nope"], r"No such command 'nope'"),
]


GAMES_ROWS = [
    (["games", "train", "chess"], r"Unknown game 'chess': expected one of connect4, checkers, go\. Did you mean "
                                  r"`checkers`\?"),
    (["games", "train", "connect4", "--size", "7"], r"Invalid `--size`/`--komi` for connect4: expected them for go"),
    (["games", "train", "go", "--size", "1"], r"Invalid `size` for Go: expected a board size from 2 to 19, received 1"),
    (["games", "train", "go", "--komi", "abc"], r"Invalid value for '--komi'.*see `striate games train --help`"),
    (["games", "train", "connect4", "--iterations", "0"], r"Invalid `iterations`: expected a positive integer"),
    (["games", "train", "connect4", "--simulations", "0"], r"Invalid `simulations`: expected a positive integer"),
    (["games", "train", "connect4", "--fast-simulations", "64"],
     r"Invalid `fast_simulations`: expected 0 \(off\) or a whole number below `simulations` \(64\), received 64"),
    (["games", "train", "connect4", "--fast-simulations", "8", "--full-fraction", "0"],
     r"Invalid `full_fraction`: expected a share of moves in \(0, 1\] such as 0\.25, received 0\.0"),
    (["games", "train", "connect4", "--workers", "-1"], r"Invalid `workers`: expected an integer of at least 0"),
    (["games", "train", "connect4", "--lr", "0"], r"Invalid `lr`: expected a positive learning rate"),
    (["games", "train", "--resume", "{f}/adir"], r"Cannot resume .*adir: expected a folder written by `striate "
                                                 r"games train` \(with config\.yaml and player\.json\)"),
    (["games", "train", "--resume", "{rl}"], r"Cannot resume .*: expected a folder written by `striate games train`"),
    (["games", "match", "random", "random"], r"Invalid players 'random' and 'random': expected a run folder among "
                                             r"them or --game"),
    (["games", "match", "random", "nope", "--game", "connect4"], r"Unknown player 'nope': expected a run folder"),
    (["games", "match", "alphabeta:x", "random", "--game", "connect4"],
     r"Invalid player 'alphabeta:x': expected alphabeta:DEPTH with a positive whole number, received 'x'"),
    (["games", "match", "mcts:0", "random", "--game", "connect4"], r"expected mcts:SIMULATIONS with a positive"),
    (["games", "match", "gnugo:1", "random", "--game", "connect4"], r"GNU Go plays go, not connect4"),
    (["games", "match", "random", "random", "--game", "connect4", "--games", "0"],
     r"Invalid `--games`: expected at least 1, received 0"),
    (["games", "match", "random", "random", "--game", "connect4", "--size", "7"],
     r"Invalid `--size`/`--komi` for connect4: expected them for go only"),
    (["games", "match", "/nope/run", "random"], r"Invalid player '/nope/run': expected a run folder, found nothing"),
    (["games", "match", "{f}/adir", "random"], r"expected a run folder of `striate games train` \(player\.json\) "
                                               r"or `striate games evolve` \(best\.safetensors\), found a folder"),
    (["games", "match", "{run}", "random"], r"found a folder with neither"),
    (["games", "play", "random"], r"expected a run folder among them or --game"),
    (["games", "match", "random", "random", "--game", "connect4", "--openings", "-1"],
     r"Invalid `--openings`: expected 0 or more random actions, received -1"),
    (["games", "evolve", "--extend", "-1"], r"Invalid `--extend`: expected at least 0, received -1"),
    (["games", "report", "{f}/adir"], r"Not a games run: expected .*adir/player\.json written by `striate games "
                                      r"train`, found none"),
    (["games", "report", "{rl}"], r"Not a games run: expected .*player\.json written by `striate games train`"),
    (["games", "nope"], r"No such command 'nope'.*see `striate games --help`"),
]


def damaged(run: Path, root: Path) -> dict[str, str]:
    """Copies of a finished run, each damaged in one way a user's editing, copying or a crash can."""
    import json

    def edit_info(change):
        def apply(path: Path) -> None:
            info = json.loads((path / "model.json").read_text())
            change(info)
            (path / "model.json").write_text(json.dumps(info))
        return apply

    changes = {
        "incomplete": lambda p: (p / ".incomplete").write_text("as if training had been killed"),
        "badjson": lambda p: (p / "model.json").write_text("{not json"),
        "binjson": lambda p: (p / "model.json").write_bytes(b"\xff\xfe\x00\x01" * 10),
        "listjson": lambda p: (p / "model.json").write_text("[1, 2, 3]"),
        "truncweights": lambda p: (p / "model.safetensors").write_bytes((p / "model.safetensors").read_bytes()[:100]),
        "zeroweights": lambda p: (p / "model.safetensors").write_bytes(b""),
        "junkweights": lambda p: (p / "model.safetensors").write_bytes(b"\x10" + b"\x00" * 7 + b'{"a":1}' + b"x" * 50),
        "noweights": lambda p: (p / "model.safetensors").unlink(),
        "dirweights": lambda p: ((p / "model.safetensors").unlink(), (p / "model.safetensors").mkdir()),
        "nomodeljson": lambda p: (p / "model.json").unlink(),
        "badresults": lambda p: (p / "results.json").write_text("[["),
        "badconfig": lambda p: (p / "config.yaml").write_text("epochs: [\n"),
        "moreclasses": edit_info(lambda info: info["classes"].append("extra")),
        "zerostd": edit_info(lambda info: info.update(std=[0.0])),
        "otherweights": edit_info(lambda info: info.update(architecture={"name": "convnet", "kwargs": {
            "num_classes": 10, "input_size": [8, 8]}})),
    }
    paths = {}
    for name, change in changes.items():
        path = root / name
        shutil.copytree(run, path)
        change(path)
        paths[name] = str(path)
    only = root / "only_config"
    only.mkdir()
    shutil.copy(run / "config.yaml", only)
    paths["only_config"] = str(only)
    return paths


def bad_files(f: Path) -> None:
    """A folder of files that are wrong in one way each: images, arrays, tables, text, YAML, specs."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 1, 32)).astype(np.float32)
    y = (x[:, 0, :16].mean(1) > 0).astype(np.int64)
    np.savez(f / "series.npz", X=x, y=y)
    lines = [f"{i % 2} {'good fine great' if i % 2 else 'bad awful poor'} movie number {i}" for i in range(120)]
    (f / "tiny.txt").write_text("\n".join(lines) + "\n")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(f / "ok.png")
    (f / "text.png").write_text("this is not an image")
    (f / "empty.png").write_bytes(b"")
    png = (f / "ok.png").read_bytes()
    (f / "trunc.png").write_bytes(png[: len(png) // 2])
    (f / "adir").mkdir()
    (f / "afile").write_text("a file")
    (f / "dangling").symlink_to(f / "nowhere")
    np.save(f / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(f / "wrong.npy", np.zeros((2, 3, 4, 5), np.float32))
    np.save(f / "nan.npy", np.full((1, 1, 32), np.nan, np.float32))
    np.save(f / "inf.npy", np.full((1, 1, 32), np.inf, np.float32))
    np.save(f / "str.npy", np.array(["a", "b"]))
    (f / "garbage.npy").write_bytes(b"\x93NUMPY garbage")
    (f / "strings.csv").write_text("a,b,c\nx,y,z\n")
    (f / "empty.csv").write_text("")
    (f / "bin.csv").write_bytes(b"\x00\xff\xfe" * 100)
    (f / "csv_nolabel.csv").write_text("a,b\n1,2\n3,2\n")
    (f / "csv_text.csv").write_text("a,b,label\n1,x,0\n3,4,1\n")
    (f / "csv_ragged.csv").write_text("a,b,label\n1,2\n3,4,1,5\n")
    np.savez(f / "onecls.npz", X=x, y=np.zeros_like(y))
    np.savez(f / "nox.npz", y=y)
    np.savez(f / "noy.npz", X=x)
    np.savez(f / "extra.npz", X=x, y=y, Z=y)
    np.savez(f / "mismatch.npz", X=x, y=y[:5])
    np.savez(f / "objx.npz", X=np.array([None] * 80, dtype=object), y=y)
    np.savez(f / "scalar.npz", X=np.float32(1), y=np.int64(1))
    np.savez(f / "emptyx.npz", X=np.zeros((0, 1, 32), np.float32), y=np.zeros(0, np.int64))
    np.savez(f / "fy.npz", X=x, y=np.full(80, np.nan))
    np.savez(f / "x5d.npz", X=np.zeros((4, 1, 2, 2, 2, 2), np.float32), y=np.zeros(4, np.int64))
    (f / "notzip.npz").write_text("not a zip")
    with zipfile.ZipFile(f / "pickle.npz", "w") as archive:  # a pickle posing as an array: never unpickled
        archive.writestr("X.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
                                  + b" " * 40 + b"\ncos\nsystem\n")
    (f / "bad.ts").write_text("@problemName x\n@data\n1,2,3:a\n")
    (f / "bad.tsv").write_text("a\tb\n")
    (f / "empty.txt").write_text("")
    (f / "vectors.txt").write_text("not vectors at all\nreally\n")
    (f / "labels.csv").write_text("file,label\nnothing.png,1\n")
    (f / "bad.yaml").write_text("epochs: [1,\n")
    (f / "list.yaml").write_text("- 1\n- 2\n")
    (f / "scalar.yaml").write_text("42\n")
    (f / "tag.yaml").write_text(f"epochs: !!python/object/apply:os.system ['touch {f}/pwned']\n")
    (f / "unknown.yaml").write_text("epochz: 3\n")
    (f / "wrongtype.yaml").write_text("epochs: abc\ndata: digits\n")
    (f / "booltype.yaml").write_text("epochs: true\ndata: digits\n")
    (f / "bin.yaml").write_bytes(b"\x00\xff\xfe\x00" * 40)
    (f / "dup.yaml").write_text("epochs: 1\nepochs: 2\n")
    (f / "deep.yaml").write_text("model_args: {a: " + "[" * 100 + "]" * 100 + "}\n")
    (f / "loop.yaml").write_text(f"model: {f / 'loop.yaml'}\n")
    pairs = zip("abcdefg", "bcdefgh", strict=True)
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in pairs]
    (f / "anchors.yaml").write_text("\n".join(bomb) + "\n")
    spec = "input_shape: [1, 8, 8]\nlayers: "
    (f / "spec_badlayer.yaml").write_text(spec + "[teleport, flatten, linear]\n")
    (f / "spec_neg.yaml").write_text(spec + "[{type: conv2d, out_channels: -4, kernel_size: 3}, flatten, linear]\n")
    (f / "spec_kernel.yaml").write_text(spec + "[{type: conv2d, out_channels: 4, kernel_size: 30}, flatten, linear]\n")
    (f / "spec_badkey.yaml").write_text(spec + "[{type: conv2d, out_channels: 4, kernel_size: 3, colour: red}, "
                                               "flatten, linear]\n")
    (f / "spec_nolayers.yaml").write_text("input_shape: [1, 8, 8]\n")
    (f / "spec_str.yaml").write_text("just a string\n")
    (f / "spec_huge.yaml").write_text(spec + "[flatten, linear]\n")
    (f / "spec_repeat.yaml").write_text(
        "input_shape: [4]\nblocks: {one: [relu], ten: [{type: block, name: one, repeat: 100}]}\n"
        "layers: [{type: block, name: ten, repeat: 1000}, flatten, linear]\n")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad-input")
    f = root / "files"
    f.mkdir()
    bad_files(f)
    runs = root / "runs"
    image = striate.train(data="digits", epochs=1, batch_size=64, train_size=256, out=str(runs), quiet=True).path
    series = striate.train(data=f"npz:{f / 'series.npz'}", model="fcn", epochs=1, batch_size=16, out=str(runs),
                           quiet=True).path
    text = striate.train(data=f"text:{f / 'tiny.txt'}", model="textcnn", epochs=1, batch_size=16, out=str(runs),
                         quiet=True).path
    return {"f": str(f), "run": str(image), "series": str(series), "text": str(text),
            **damaged(image, root / "damaged"), **rl_runs(root)}


def rl_runs(root: Path) -> dict[str, str]:
    """A finished DQN run on Catch (two seconds), and copies damaged one way each."""
    from striate.rl.training import DQNSettings, train_dqn

    settings = DQNSettings(env="striate/Catch-v0", network="minatar_dqn", history=1, frames=300, learning_starts=64,
                           buffer=1_000, eval_every=300, eval_episodes=1, threads=1)
    run = train_dqn(settings, out=root / "rl", quiet=True, record=False)
    copies = {}
    for name, damage in (("rlbroken", lambda r: (r / "model.safetensors").write_bytes(b"\x00" * 64)),
                         ("rlnoweights", lambda r: (r / "model.safetensors").unlink()),
                         ("rlbadjson", lambda r: (r / "agent.json").write_text("{not json")),
                         ("rlnockpt", lambda r: shutil.rmtree(r / "checkpoints"))):
        copy = root / "rl-damaged" / name
        shutil.copytree(run, copy)
        damage(copy)
        copies[name] = str(copy)
    return {"rl": str(run), **copies}


def run_cli(argv: list[str], monkeypatch, capsys) -> tuple[int, list[str]]:
    monkeypatch.setattr("sys.argv", ["striate", *argv])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err.strip().splitlines()


def check_row(argv, pattern, world, tmp_path, monkeypatch, capsys) -> None:
    out = tmp_path / "out"
    argv = [arg.format(**world) for arg in argv]
    if (argv[0] == "train" or argv[:2] in (["rl", "train"], ["games", "train"])) and "--out" not in argv \
            and "--resume" not in argv:
        argv += ["--out", str(out)]
    code, lines = run_cli(argv, monkeypatch, capsys)
    assert code == 2, (code, lines)
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert re.search(pattern, lines[0]), lines[0]
    assert not out.exists() or not any(out.iterdir()), "a failed run left a folder behind"
    assert not (Path(world["f"]) / "pwned").exists(), "a YAML tag ran code"


@pytest.mark.parametrize(("argv", "pattern"), TRAIN_ROWS, ids=[" ".join(a[len(TRAIN):] or a)[:60] for a, _ in
                                                               TRAIN_ROWS])
def test_train(argv, pattern, world, tmp_path, monkeypatch, capsys):
    check_row(argv, pattern, world, tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize(("argv", "pattern"), RUN_ROWS, ids=[" ".join(a)[:60] for a, _ in RUN_ROWS])
def test_commands_on_runs(argv, pattern, world, tmp_path, monkeypatch, capsys):
    check_row(argv, pattern, world, tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize(("argv", "pattern"), RL_ROWS, ids=[" ".join(a[len(RL):] if a[:2] == RL[:2] else a)[:60]
                                                            for a, _ in RL_ROWS])
def test_rl_commands(argv, pattern, world, tmp_path, monkeypatch, capsys):
    check_row(argv, pattern, world, tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize(("argv", "pattern"), GAMES_ROWS, ids=[" ".join(a)[:60] for a, _ in GAMES_ROWS])
def test_games_commands(argv, pattern, world, tmp_path, monkeypatch, capsys):
    check_row(argv, pattern, world, tmp_path, monkeypatch, capsys)


def test_the_table_is_large_and_would_catch_a_success_or_a_second_line(world, tmp_path, monkeypatch, capsys):
    assert len(TRAIN_ROWS) + len(RUN_ROWS) >= 200
    with pytest.raises(AssertionError):  # a legitimate command exits 0: the check fails
        check_row(["models"], r"error", world, tmp_path, monkeypatch, capsys)
    with pytest.raises(AssertionError):  # the right code with the wrong message fails too
        check_row(["trian"], r"Unknown dataset", world, tmp_path, monkeypatch, capsys)
