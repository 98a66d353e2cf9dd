"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document recognition")."""

from __future__ import annotations

import torch
import torch.nn as nn

from striate.models._base import Classifier
from striate.models._registry import register_model
from striate.models._utils import flat_features


class LeNet5(Classifier):
    """The modern LeNet-5: two 5x5 convolutions (6 and 16 maps) with ReLU and 2x2 max pooling, then 120-84-K.

    The first convolution pads by 2 so that a 28x28 input behaves like the paper's 32x32 one; with K=10 classes the
    network has 61,706 parameters. Inputs smaller than 20x20 (such as 8x8 digits) would leave the second 5x5
    convolution without room, so there it pads by 2 as well.

    Input: `(N, C, H, W)`. Features: `(N, 16, H', W')`, the pooled maps of the second convolution (16x5x5 for
    28x28). Output: `(N, K)` logits.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28)):
        super().__init__()
        small = min(input_size) < 20
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5, padding=2 if small else 0), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        flat = flat_features(self.features, (in_channels, *input_size))
        self.hidden = nn.Sequential(nn.Linear(flat, 120), nn.ReLU(inplace=True), nn.Linear(120, 84),
                                    nn.ReLU(inplace=True))
        self.head = nn.Linear(84, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, H, W)` -> `(N, 16, H', W')`."""
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(features.flatten(1)))  # (N, 16, H', W') -> (N, 16 * H' * W') -> (N, K)


@register_model("lenet5", paper="LeCun et al. 1998", input_shape=(1, 28, 28))
def lenet5(num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28)) -> LeNet5:
    """LeNet-5, modern variant (ReLU, max pooling), 61,706 parameters for 10 classes."""
    return LeNet5(num_classes, in_channels, input_size)


# ------------------------------------------------------------------------------------------------ the 1998 original

C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)
"""Table I of the paper: which of the six S2 maps each of the sixteen C3 maps reads."""


class ScaledTanh(nn.Module):
    """The paper's squashing function f(a) = A tanh(S a) with A = 1.7159 and S = 2/3, so that f(1) = 1, f(-1) = -1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2 / 3))


class Subsampling2d(nn.Module):
    """LeNet's subsampling layer: each 2x2 window summed, times a trainable coefficient, plus a trainable bias, per map.

    Input: `(N, C, H, W)` -> Output: `(N, C, H // 2, W // 2)`; 2 parameters per map.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        summed = 4 * nn.functional.avg_pool2d(x, 2)
        return summed * self.weight[:, None, None] + self.bias[:, None, None]  # (C,) -> (C, 1, 1) broadcast


class TableConv2d(nn.Module):
    """A convolution in which output map `o` reads only the input maps `table[o]` (LeNet-5's C3).

    Only the connected kernels are parameters (`weight`: (connections, k, k)); `forward` scatters them into a dense
    (C_out, C_in, k, k) kernel with zeros elsewhere, so the layer has exactly the paper's 1,516 parameters.

    Input: `(N, C_in, H, W)` -> Output: `(N, len(table), H - k + 1, W - k + 1)`.
    """

    def __init__(self, in_channels: int, table: tuple[tuple[int, ...], ...], kernel_size: int):
        super().__init__()
        pairs = [(out, inp) for out, inputs in enumerate(table) for inp in inputs]
        self.table, self.in_channels, self.out_channels, self.kernel_size = table, in_channels, len(table), kernel_size
        self.register_buffer("out_index", torch.tensor([o for o, _ in pairs]), persistent=False)
        self.register_buffer("in_index", torch.tensor([i for _, i in pairs]), persistent=False)
        self.weight = nn.Parameter(torch.empty(len(pairs), kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(len(table)))

    def reset_parameters(self) -> None:
        """Uniform in +-2.4 / fan_in, where an output map's fan_in counts only the maps it reads."""
        fan_in = torch.tensor([len(inputs) * self.kernel_size**2 for inputs in self.table], dtype=torch.float)
        with torch.no_grad():
            self.weight.uniform_(-1, 1).mul_(2.4 / fan_in[self.out_index, None, None])  # (connections, 1, 1)
            self.bias.uniform_(-1, 1).mul_(2.4 / fan_in)

    def dense_weight(self) -> torch.Tensor:
        """The (C_out, C_in, k, k) kernel with the unconnected pairs set to zero."""
        k = self.kernel_size
        dense = self.weight.new_zeros(self.out_channels, self.in_channels, k, k)
        return dense.index_put((self.out_index, self.in_index), self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.dense_weight(), self.bias)


class EuclideanRBF(nn.Module):
    """LeNet-5's output layer: y_k = ||x - w_k||^2 against fixed +-1 codes w_k; returns -y_k as logits.

    The paper fixes the codes (stylised 7x12 bitmaps for digits, random +-1 codes for the full character set); here
    they are random +-1 codes drawn from a seeded generator and stored as a buffer, so they are not trained.
    Cross-entropy on -y_k is the paper's MAP criterion without its rubbish-class constant j.

    Input: `(N, F)` -> Output: `(N, K)`.
    """

    def __init__(self, in_features: int, num_classes: int, seed: int = 0):
        super().__init__()
        self.in_features, self.out_features = in_features, num_classes
        generator = torch.Generator().manual_seed(seed)
        codes = torch.randint(0, 2, (num_classes, in_features), generator=generator, device="cpu") * 2.0 - 1.0
        self.register_buffer("codes", codes.to(torch.get_default_device()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -(x[:, None, :] - self.codes).square().sum(-1)  # (N, 1, F) - (K, F) -> (N, K, F) -> (N, K)


class LeNet5Classic(Classifier):
    """LeNet-5 as in the 1998 paper: C1-S2-C3-S4-C5-F6 with the scaled tanh, trainable subsampling and an RBF output.

    C1: 6 maps 5x5; S2: 2x2 subsampling (coefficient and bias per map); C3: 16 maps 5x5 reading the S2 maps of
    Table I; S4: subsampling; C5: 120 maps 5x5 (1x1 on a 32x32 input); F6: 84 units; output: Euclidean RBF units
    against fixed +-1 codes. Every layer up to F6 is followed by f(a) = 1.7159 tanh(2a/3). Weights are drawn
    uniformly from +-2.4 / fan_in, as in the paper. With the RBF output it has the paper's 60,000 trainable
    parameters (C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164) for any class count.

    Adaptation: inputs smaller than 32x32 are zero-padded to 32x32 by C1's padding (28x28 MNIST digits were centred
    in a 32x32 field in the paper too); larger inputs give C5 maps larger than 1x1, which F6 flattens.

    Input: `(N, C, H, W)`. Features: `(N, 120, H', W')`, the C5 maps (1x1 on a 32x32 input: C5 is a 5x5 convolution
    over 5x5 maps, so this is a real map, one pixel across, not a pooled one). Output: `(N, K)` logits (negative
    squared distances to the class codes).

    Args:
        rbf_output: the paper's fixed RBF output layer; False uses a trainable linear layer (84 * K + K more).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (32, 32),
                 rbf_output: bool = True):
        super().__init__()
        padding = max(0, 32 - min(input_size) + 1) // 2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=padding), ScaledTanh(),
            Subsampling2d(6), ScaledTanh(),
            TableConv2d(6, C3_TABLE, 5), ScaledTanh(),
            Subsampling2d(16), ScaledTanh(),
            nn.Conv2d(16, 120, 5), ScaledTanh(),
        )
        flat = flat_features(self.features, (in_channels, *input_size))
        self.hidden = nn.Sequential(nn.Linear(flat, 84), ScaledTanh())
        self.head = EuclideanRBF(84, num_classes) if rbf_output else nn.Linear(84, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias uniform in +-2.4 / fan_in (the paper's initialisation; fan_in 4 for subsampling)."""
        for module in [*self.features, *self.hidden]:
            if isinstance(module, TableConv2d):
                module.reset_parameters()
            elif isinstance(module, Subsampling2d | nn.Conv2d | nn.Linear):
                fan_in = 4 if isinstance(module, Subsampling2d) else module.weight[0].numel()
                nn.init.uniform_(module.weight, -2.4 / fan_in, 2.4 / fan_in)
                nn.init.uniform_(module.bias, -2.4 / fan_in, 2.4 / fan_in)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, H, W)` -> `(N, 120, H', W')`."""
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(features.flatten(1)))  # (N, 120, H', W') -> (N, 120 * H' * W') -> F6 -> (N, K)

    def reset_classifier(self, num_classes: int) -> None:
        """A new output layer for `num_classes`: new RBF codes, or a fresh linear layer."""
        rbf = isinstance(self.head, EuclideanRBF)
        self.head = EuclideanRBF(84, num_classes) if rbf else nn.Linear(84, num_classes)


@register_model("lenet5_classic", paper="LeCun et al. 1998", input_shape=(1, 32, 32))
def lenet5_classic(num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (32, 32),
                   rbf_output: bool = True) -> LeNet5Classic:
    """LeNet-5 as published (scaled tanh, trainable subsampling, C3 table, RBF output), 60,000 parameters."""
    return LeNet5Classic(num_classes, in_channels, tuple(input_size), rbf_output)
