"""Time-series classifiers: FCN and ResNet (Wang, Yan & Oates 2017, "Time series classification from scratch with
deep neural networks: a strong baseline") and InceptionTime (Ismail Fawaz et al. 2020, "InceptionTime: finding
AlexNet for time series classification"), with the paper's ensemble of five.

Every network maps a series `(N, C, L)` (C variables, L steps, any C >= 1 and L >= 1) to `(N, K)` logits. Layer for
layer they follow the reference Keras code, the FCN and ResNet of the review by Ismail Fawaz et al. 2019 ("Deep
learning for time series classification: a review", dl-4-tsc) and the InceptionTime repository, including:

- Keras 'same' padding, which for an even kernel puts the odd zero on the right (`keras_same_padding`): the
  InceptionTime kernels 40, 20, 10 and the FCN/ResNet kernel 8 are even.
- Keras' default initialisation, Glorot-uniform weights and zero biases (`keras_init`), the one the published
  accuracies were trained with.
- Convolution biases as in the reference: FCN and ResNet convolutions have them (batch norm makes them redundant but
  they are counted), InceptionTime's have none.

Batch norm keeps torch's defaults (eps 1e-5, momentum 0.1; Keras uses 1e-3 and 0.99, i.e. torch momentum 0.01): a
training-schedule detail, not architecture, and momentum 0.01 would leave the running statistics far from the data
after the short runs striate is used for. The Keras softmax output layer is a plain linear layer here; the softmax
belongs to the loss.

Parameter counts on GunPoint (1 variable, 150 steps, 2 classes) are Keras' "trainable params"; Keras' "total params"
also count batch norm's moving mean and variance, which torch keeps as buffers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from striate.errors import ConfigError
from striate.models._base import Classifier
from striate.models._registry import register_model


def keras_same_padding(kernel_size: int, dilation: int = 1) -> tuple[int, int]:
    """The (left, right) zeros that keep the length at stride 1, as Keras 'same': the odd one goes on the right.

    The total is K_eff - 1 = d * (K - 1); the left side gets its floor half.

    Example:
        >>> keras_same_padding(8), keras_same_padding(5), keras_same_padding(40), keras_same_padding(1)
        ((3, 4), (2, 2), (19, 20), (0, 0))
    """
    total = dilation * (kernel_size - 1)
    return total // 2, total - total // 2


class SameConv1d(nn.Conv1d):
    """A stride-1 `nn.Conv1d` that pads its input as Keras 'same' does (`keras_same_padding`), for any kernel size.

    Shapes:
        Input: `(N, C_in, L)` -> Output: `(N, C_out, L)`, for any L >= 1, also when L is shorter than the kernel.

    Example:
        >>> SameConv1d(3, 8, kernel_size=40)(torch.randn(2, 3, 5)).shape
        torch.Size([2, 8, 5])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation, bias=bias)
        self.same_padding = keras_same_padding(kernel_size, dilation)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.same_padding != (0, 0):
            input = F.pad(input, self.same_padding)  # (N, C, L) -> (N, C, left + L + right)
        return super().forward(input)


def conv_bn(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> nn.Sequential:
    """A 'same'-padded convolution followed by batch norm: `(N, C_in, L)` -> `(N, C_out, L)`."""
    return nn.Sequential(SameConv1d(in_channels, out_channels, kernel_size, bias=bias), nn.BatchNorm1d(out_channels))


def keras_init(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases for every convolution and linear layer in `module` (Keras' defaults)."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv1d | nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def _check_widths(model: str, channels: Sequence[int], kernel_sizes: Sequence[int], paired: bool) -> None:
    """Raise unless there is at least one block and kernel size and, when `paired`, one kernel size per block."""
    if not channels or not kernel_sizes:
        raise ConfigError(f"Invalid `channels` or `kernel_sizes` for {model}: expected at least one entry each, "
                          f"received {tuple(channels)} and {tuple(kernel_sizes)}.")
    if paired and len(channels) != len(kernel_sizes):
        raise ConfigError(f"Invalid `kernel_sizes` for {model}: expected one per entry of `channels` "
                          f"({len(channels)}), received {len(kernel_sizes)}.")


class GapClassifier(Classifier):
    """Global average pooling over time, then a linear layer: the head every network in this module shares.

    Subclasses set `head` to an `nn.Linear` and define `forward_features` returning `(N, C_feat, L)`.
    """

    feature_layout = "temporal"

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """`(N, C_feat, L)` -> `(N, K)` logits."""
        return self.head(features.mean(dim=2))  # (N, C, L) -> (N, C) -> (N, K)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh Glorot-initialised linear layer with `num_classes` outputs, on the old one's device and dtype."""
        weight = self.head.weight
        self.head = nn.Linear(self.head.in_features, num_classes, device=weight.device, dtype=weight.dtype)
        keras_init(self.head)


class FCN(GapClassifier):
    """Fully convolutional network: conv-BN-ReLU blocks of 128, 256, 128 filters (kernels 8, 5, 3), GAP, linear.

    264,962 parameters on GunPoint (1 variable, 150 steps, 2 classes), Keras' trainable count for the reference.

    Shapes:
        Input: `(N, C, L)`. `forward_features`: `(N, channels[-1], L)`. Output: `(N, K)` logits.

    Args:
        num_classes: K, the number of classes.
        in_channels: C, the number of variables.
        channels: filters of each block.
        kernel_sizes: kernel size of each block, one per entry of `channels`.
    """

    def __init__(self, num_classes: int = 2, in_channels: int = 1, channels: Sequence[int] = (128, 256, 128),
                 kernel_sizes: Sequence[int] = (8, 5, 3)):
        super().__init__()
        _check_widths("fcn", channels, kernel_sizes, paired=True)
        blocks = []
        for width, kernel_size in zip(channels, kernel_sizes, strict=True):
            blocks.append(nn.Sequential(conv_bn(in_channels, width, kernel_size), nn.ReLU()))
            in_channels = width
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(in_channels, num_classes)
        keras_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, L)` -> `(N, C_feat, L)`, unpooled."""
        return self.features(x)


class ResidualBlock(nn.Module):
    """Three conv-BN layers (ReLU after the first two) plus a shortcut, added, then ReLU.

    The shortcut is a 1x1 convolution + BN where the channel count changes and BN alone otherwise, as in the
    reference code (whose first two blocks always change it: C -> 64 -> 128).

    Shapes:
        Input: `(N, C_in, L)` -> Output: `(N, C_out, L)`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_sizes: Sequence[int] = (8, 5, 3)):
        super().__init__()
        layers: list[nn.Module] = []
        for index, kernel_size in enumerate(kernel_sizes):
            layers.append(conv_bn(in_channels if index == 0 else out_channels, out_channels, kernel_size))
            if index < len(kernel_sizes) - 1:
                layers.append(nn.ReLU())
        self.residual = nn.Sequential(*layers)
        self.shortcut = (conv_bn(in_channels, out_channels, 1) if in_channels != out_channels
                         else nn.BatchNorm1d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.residual(x) + self.shortcut(x))


class ResNetTS(GapClassifier):
    """The time-series ResNet: three residual blocks of 64, 128, 128 channels (kernels 8, 5, 3 each), GAP, linear.

    504,258 parameters on GunPoint (1 variable, 150 steps, 2 classes), Keras' trainable count for the reference
    (its total, 506,818, adds the 2,560 moving statistics of the 10 batch norms).

    Shapes:
        Input: `(N, C, L)`. `forward_features`: `(N, channels[-1], L)`. Output: `(N, K)` logits.

    Args:
        num_classes: K, the number of classes.
        in_channels: C, the number of variables.
        channels: output channels of each residual block.
        kernel_sizes: kernel sizes of the convolutions inside every block.
    """

    def __init__(self, num_classes: int = 2, in_channels: int = 1, channels: Sequence[int] = (64, 128, 128),
                 kernel_sizes: Sequence[int] = (8, 5, 3)):
        super().__init__()
        _check_widths("resnet_ts", channels, kernel_sizes, paired=False)
        blocks = []
        for width in channels:
            blocks.append(ResidualBlock(in_channels, width, tuple(kernel_sizes)))
            in_channels = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(in_channels, num_classes)
        keras_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, L)` -> `(N, C_feat, L)`, unpooled."""
        return self.blocks(x)


class InceptionModule(nn.Module):
    """Bottleneck, three parallel convolutions and a max-pool branch, concatenated, then BN and ReLU.

    The bottleneck is a 1x1 convolution to `bottleneck_channels`, applied only when the input has more than one
    channel (as the reference). The convolutions have kernels `kernel_size // 2**i` for i = 0, 1, 2 (40, 20, 10 by
    default: the reference turns the paper's 41 into 40 before halving); the fourth branch is a max pool (size 3,
    stride 1, 'same') on the module's input followed by a 1x1 convolution. Each branch has `filters` channels and no
    bias.

    Shapes:
        Input: `(N, C_in, L)` -> Output: `(N, 4 * filters, L)`.
    """

    def __init__(self, in_channels: int, filters: int = 32, bottleneck_channels: int = 32, kernel_size: int = 40):
        super().__init__()
        use_bottleneck = bottleneck_channels > 0 and in_channels > 1
        self.bottleneck = (SameConv1d(in_channels, bottleneck_channels, 1, bias=False) if use_bottleneck
                           else nn.Identity())
        width = bottleneck_channels if use_bottleneck else in_channels
        self.convs = nn.ModuleList(SameConv1d(width, filters, kernel_size // 2**i, bias=False) for i in range(3))
        # Max pooling pads with -inf, so the padded steps never win: TensorFlow's 'same' pooling.
        self.pool = nn.Sequential(nn.MaxPool1d(3, stride=1, padding=1), SameConv1d(in_channels, filters, 1, bias=False))
        self.norm = nn.BatchNorm1d(4 * filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.bottleneck(x)
        branches = [conv(z) for conv in self.convs] + [self.pool(x)]
        return F.relu(self.norm(torch.cat(branches, dim=1)))  # 4 x (N, F, L) -> (N, 4F, L)


class InceptionTime(GapClassifier):
    """One InceptionTime network: `depth` Inception modules, a residual shortcut around every three, GAP, linear.

    Each shortcut is a 1x1 convolution (no bias) + BN from the input of the three modules to their output, added,
    then ReLU; the reference adds one after modules 3 and 6 (and after 9, 12, ... for deeper networks, none around a
    trailing group of fewer than three). 420,450 parameters on GunPoint (1 variable, 150 steps, 2 classes): modules
    2,528 (first, no bottleneck) + 5 x 80,128, shortcuts 384 + 16,640, head 258.

    Shapes:
        Input: `(N, C, L)`. `forward_features`: `(N, 4 * filters, L)`. Output: `(N, K)` logits.

    Args:
        num_classes: K, the number of classes.
        in_channels: C, the number of variables.
        depth: number of Inception modules.
        filters: channels of each of the four branches.
        bottleneck_channels: width of the bottleneck convolution; 0 disables it.
        kernel_size: the longest kernel; the others are its halves and quarters (at least 4).
        residual: whether to add the shortcuts.
    """

    def __init__(self, num_classes: int = 2, in_channels: int = 1, depth: int = 6, filters: int = 32,
                 bottleneck_channels: int = 32, kernel_size: int = 40, residual: bool = True):
        super().__init__()
        _check_inception(depth, kernel_size)
        width = 4 * filters
        self.blocks = nn.ModuleList(InceptionModule(in_channels if index == 0 else width, filters,
                                                    bottleneck_channels, kernel_size) for index in range(depth))
        groups = depth // 3 if residual else 0
        self.shortcuts = nn.ModuleList(conv_bn(in_channels if index == 0 else width, width, 1, bias=False)
                                       for index in range(groups))
        self.head = nn.Linear(width, num_classes)
        keras_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, L)` -> `(N, 4 * filters, L)`, unpooled."""
        residual = x
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index % 3 == 2 and index // 3 < len(self.shortcuts):
                x = residual = F.relu(x + self.shortcuts[index // 3](residual))
        return x


def _check_inception(depth: int, kernel_size: int) -> None:
    if depth < 1:
        raise ConfigError(f"Invalid `depth` for inception_time: expected at least 1 module, received {depth}.")
    if kernel_size < 4:
        raise ConfigError(f"Invalid `kernel_size` for inception_time: expected at least 4, so that its quarter is a "
                          f"kernel, received {kernel_size}.")


def log_mean_softmax(logits: torch.Tensor) -> torch.Tensor:
    """The log of the members' averaged class probabilities: `(M, N, K)` logits -> `(N, K)` log-probabilities.

    log(1/M sum_m softmax(z_m)) = logsumexp_m(log_softmax(z_m)) - log M, computed without leaving log space.
    """
    return torch.logsumexp(F.log_softmax(logits, dim=-1), dim=0) - math.log(logits.shape[0])


class InceptionTimeEnsemble(Classifier):
    """The paper's ensemble: M InceptionTime networks (5 in the paper), each with its own random initialisation,
    whose softmax probabilities are averaged.

    The output is the log of the averaged probabilities, `log_mean_softmax`, not a mean of logits: softmax of it is
    exactly the paper's ensemble prediction (the output is already normalised, so `softmax` and `log_softmax` leave it
    unchanged), its argmax is the ensemble's vote, and cross-entropy on it is the negative log-likelihood of the
    averaged distribution, so the ensemble trains and evaluates like any classifier. Averaging logits instead would
    be a different ensemble (a geometric mean of the probabilities). Note that training this module end to end
    fits the mixture jointly; the paper trains the five networks independently and averages afterwards, which is
    `InceptionTimeEnsemble([m1, ..., m5])` around five separately trained `inception_time` models.

    2,102,250 parameters on GunPoint (1 variable, 150 steps, 2 classes): 5 x 420,450.

    Shapes:
        Input: `(N, C, L)`. `forward_features`: `(N, M * C_feat, L)`, the members' feature maps concatenated in
        member order. Output: `(N, K)` log-probabilities (usable as logits).

    Args:
        members: the networks; they must share `num_classes`.
    """

    feature_layout = "temporal"

    def __init__(self, members: Sequence[InceptionTime]):
        super().__init__()
        if len(members) < 1:
            raise ConfigError(f"Invalid `members` for inception_time_ensemble: expected at least 1 network, "
                              f"received {len(members)}.")
        self.members = nn.ModuleList(members)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, L)` -> `(N, M * C_feat, L)`, unpooled."""
        return torch.cat([member.forward_features(x) for member in self.members], dim=1)  # M x (N, C, L) -> (N, MC, L)

    def member_logits(self, features: torch.Tensor) -> torch.Tensor:
        """`(N, M * C_feat, L)` features -> `(M, N, K)`, each member's logits."""
        widths = [member.head.in_features for member in self.members]
        chunks = features.split(widths, dim=1)  # (N, M * C, L) -> M x (N, C, L)
        return torch.stack([member.forward_head(chunk) for member, chunk in zip(self.members, chunks, strict=True)])

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """`(N, M * C_feat, L)` -> `(N, K)`, the log of the members' mean softmax."""
        return log_mean_softmax(self.member_logits(features))

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh linear layer with `num_classes` outputs in every member."""
        for member in self.members:
            member.reset_classifier(num_classes)


WANG = "Wang et al. 2017"
FAWAZ = "Ismail Fawaz et al. 2020"

# The networks work on any length, so `input_size` is not needed; it is accepted like every entry point's.


@register_model("fcn", paper=WANG, input_shape=(1, 150))
def fcn(num_classes: int = 2, in_channels: int = 1, input_size: tuple[int] = (150,),
        channels: tuple[int, ...] = (128, 256, 128), kernel_sizes: tuple[int, ...] = (8, 5, 3)) -> FCN:
    """Time-series FCN: conv blocks 128-8, 256-5, 128-3 with BN and ReLU, GAP; 264,962 parameters on GunPoint."""
    return FCN(num_classes, in_channels, tuple(channels), tuple(kernel_sizes))


@register_model("resnet_ts", paper=WANG, input_shape=(1, 150))
def resnet_ts(num_classes: int = 2, in_channels: int = 1, input_size: tuple[int] = (150,),
              channels: tuple[int, ...] = (64, 128, 128), kernel_sizes: tuple[int, ...] = (8, 5, 3)) -> ResNetTS:
    """Time-series ResNet: residual blocks of 64, 128, 128 channels (kernels 8-5-3), GAP; 504,258 on GunPoint."""
    return ResNetTS(num_classes, in_channels, tuple(channels), tuple(kernel_sizes))


@register_model("inception_time", paper=FAWAZ, input_shape=(1, 150))
def inception_time(num_classes: int = 2, in_channels: int = 1, input_size: tuple[int] = (150,), depth: int = 6,
                   filters: int = 32, bottleneck_channels: int = 32, kernel_size: int = 40,
                   residual: bool = True) -> InceptionTime:
    """One InceptionTime network: 6 Inception modules (kernels 40-20-10 + pool), shortcuts; 420,450 on GunPoint."""
    return InceptionTime(num_classes, in_channels, depth, filters, bottleneck_channels, kernel_size, residual)


@register_model("inception_time_ensemble", paper=FAWAZ, input_shape=(1, 150))
def inception_time_ensemble(num_classes: int = 2, in_channels: int = 1, input_size: tuple[int] = (150,),
                            members: int = 5, depth: int = 6, filters: int = 32, bottleneck_channels: int = 32,
                            kernel_size: int = 40, residual: bool = True) -> InceptionTimeEnsemble:
    """InceptionTime ensemble: 5 networks, softmax probabilities averaged (log output); 2,102,250 on GunPoint."""
    if members < 1:
        raise ConfigError(f"Invalid `members` for inception_time_ensemble: expected at least 1 network, "
                          f"received {members}.")
    return InceptionTimeEnsemble([InceptionTime(num_classes, in_channels, depth, filters, bottleneck_channels,
                                                kernel_size, residual) for _ in range(members)])
