"""Multi-column deep neural networks (Ciresan, Meier & Schmidhuber 2012, "Multi-column deep neural networks for image
classification"): columns trained on differently preprocessed inputs, their predictions averaged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from striate.errors import ConfigError, ShapeError
from striate.models._base import Classifier
from striate.models._registry import register_model
from striate.models._utils import flat_features
from striate.models.lenet import ScaledTanh


class Stretch(nn.Module):
    """Stretch the image horizontally by `factor` about its centre, keeping its size; edge pixels fill the border.

    The paper normalises the width of each digit's bounding box to 10, 12, ..., 20 pixels; for centred images a
    fixed horizontal scale has the same effect without finding the box, and works on normalised inputs whose
    background is not zero.

    Input: `(N, C, H, W)` -> Output: `(N, C, H, W)`.
    """

    def __init__(self, factor: float):
        super().__init__()
        if not (math.isfinite(factor) and factor > 0):
            raise ConfigError(f"Invalid stretch `factor`: expected a finite number > 0, received {factor!r}.")
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = x.new_tensor([[1 / self.factor, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(x.shape[0], 2, 3)  # (N, 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (N, H, W, 2)
        return F.grid_sample(x, grid, padding_mode="border", align_corners=False)

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


class Standardize(nn.Module):
    """Per-image contrast normalisation: subtract each image's mean, divide by its standard deviation (+ eps).

    Input: `(N, C, H, W)` -> Output: `(N, C, H, W)`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(1, x.dim()))
        return (x - x.mean(dims, keepdim=True)) / (x.std(dims, keepdim=True) + 1e-5)


def preprocessor(name: str) -> nn.Module:
    """'original', 'contrast' (per-image standardisation) or 'stretch_<factor>' (e.g. 'stretch_0.8')."""
    if name == "original":
        return nn.Identity()
    if name == "contrast":
        return Standardize()
    if name.startswith("stretch_"):
        try:
            return Stretch(float(name.removeprefix("stretch_")))
        except ValueError:
            pass
    raise ConfigError(f"Invalid `preprocess` entry: expected 'original', 'contrast' or 'stretch_<factor>' such as "
                      f"'stretch_0.8', received {name!r}.")


class CiresanColumn(Classifier):
    """One column, the MNIST DNN of the paper: 20C4 - MP2 - 40C5 - MP3 - 150N - K, scaled tanh, 76,040 parameters.

    Convolutions and the hidden layer use f(a) = 1.7159 tanh(2a/3); max pooling is linear; the paper's softmax
    output is left to the loss. On 29x29 inputs the maps run 26 -> 13 -> 9 -> 3; on 28x28 25 -> 12 -> 8 -> 2.

    Input: `(N, C, H, W)`, H, W >= 14. Features: `(N, 40, H', W')`, the pooled 40C5 maps (3x3 on 29x29). Output:
    `(N, K)` logits.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (29, 29)):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 20, 4), ScaledTanh(), nn.MaxPool2d(2),
            nn.Conv2d(20, 40, 5), ScaledTanh(), nn.MaxPool2d(3),
        )
        flat = flat_features(self.features, (in_channels, *input_size))
        self.hidden = nn.Sequential(nn.Linear(flat, 150), ScaledTanh())
        self.head = nn.Linear(150, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, H, W)` -> `(N, 40, H', W')`."""
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(features.flatten(1)))  # (N, 40, H', W') -> (N, 40 * H' * W') -> (N, K)


class MultiColumn(Classifier):
    """An ensemble that feeds each column its own preprocessing of the input and averages their predictions.

    `forward` returns log(mean_i softmax(column_i(preprocess_i(x)))): logits whose softmax is the averaged
    prediction, so argmax is the ensemble's answer and cross-entropy on them is its log loss. As in the paper, the
    columns are trained independently: in training mode `forward` keeps each column's logits and `compute_loss`
    returns the sum of the columns' own cross-entropies (each column gets exactly the gradient it would get alone).

    Features: when every column is a `Classifier` with one `feature_layout`, the columns' own feature maps
    concatenated along channels in column order, `(N, M * C, H', W')` for M columns (160x3x3 for the four default
    `mcdnn` columns on 29x29), so that an explanation hooked there sees every column; `forward_head` splits them into M
    equal chunks and runs each column's own head. The columns must then give maps of one shape (every `mcdnn` column is
    the same network on a same-sized input). Columns that are plain modules expose no map, only their logits: the
    features are then those logits concatenated, `(N, M * K)`, and `feature_layout` is "vector".

    Input: `(N, C, H, W)`. Output: `(N, K)` logits.

    Args:
        columns: the networks, each mapping `(N, C, H, W)` to `(N, K)`.
        preprocessors: one module per column (same length), applied to the input before that column.
    """

    def __init__(self, columns: Sequence[nn.Module], preprocessors: Sequence[nn.Module]):
        super().__init__()
        if not columns or len(columns) != len(preprocessors):
            raise ConfigError(f"Invalid `preprocessors`: expected one per column ({len(columns)}), received "
                              f"{len(preprocessors)}.")
        self.columns = nn.ModuleList(columns)
        self.preprocessors = nn.ModuleList(preprocessors)
        self.column_logits: list[torch.Tensor] = []
        layouts = {column.feature_layout if isinstance(column, Classifier) else None for column in columns}
        self.stacks_maps = None not in layouts and len(layouts) == 1
        self.feature_layout = layouts.pop() if self.stacks_maps else "vector"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, H, W)` -> `(N, M * C_feat, *map)`, the columns' maps; `(N, M * K)` logits for plain columns."""
        inputs = [prep(x) for prep in self.preprocessors]
        if not self.stacks_maps:
            return torch.cat([column(v) for column, v in zip(self.columns, inputs, strict=True)], dim=1)  # (N, M * K)
        maps = [column.forward_features(v) for column, v in zip(self.columns, inputs, strict=True)]
        shapes = [tuple(m.shape[1:]) for m in maps]
        if len(set(shapes)) > 1:
            raise ShapeError(f"Invalid `columns` for the multi-column network: expected feature maps of one shape to "
                             f"stack, received {', '.join('x'.join(map(str, shape)) for shape in shapes)}.")
        return torch.cat(maps, dim=1)  # M x (N, C, H', W') -> (N, M * C, H', W')

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """`(N, M * C_feat, *map)` -> `(N, K)`, the log of the columns' mean softmax."""
        chunks = features.chunk(len(self.columns), dim=1)  # (N, M * C, ...) -> M x (N, C, ...)
        if self.stacks_maps:
            logits = [column.forward_head(chunk) for column, chunk in zip(self.columns, chunks, strict=True)]
        else:
            logits = list(chunks)
        self.column_logits = logits if self.training else []
        log_probs = torch.stack([F.log_softmax(z, dim=1) for z in logits])  # (columns, N, K)
        return torch.logsumexp(log_probs, dim=0) - math.log(len(logits))  # log of the mean probability, (N, K)

    def compute_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Sum of the columns' cross-entropies from the last training pass (the ensemble's log loss in eval mode)."""
        logits, self.column_logits = self.column_logits, []
        if not logits:
            return F.nll_loss(output, target)
        return sum(F.cross_entropy(z, target) for z in logits)

    def reset_classifier(self, num_classes: int) -> None:
        """Reset the output layer of every column."""
        for column in self.columns:
            column.reset_classifier(num_classes)


@register_model("mcdnn", paper="Ciresan et al. 2012", input_shape=(1, 29, 29))
def mcdnn(num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (29, 29),
          preprocess: tuple[str, ...] = ("original", "contrast", "stretch_0.8", "stretch_1.25"),
          columns_per_input: int = 1) -> MultiColumn:
    """Multi-column DNN: one MNIST column (76,040 parameters) per preprocessing, predictions averaged."""
    names = [name for name in preprocess for _ in range(columns_per_input)]
    columns = [CiresanColumn(num_classes, in_channels, tuple(input_size)) for _ in names]
    return MultiColumn(columns, [preprocessor(name) for name in names])
