"""Capsule layers (Sabour, Frosst & Hinton 2017, "Dynamic routing between capsules").

A capsule is a vector of neurons: its length is the probability that an entity is present, its orientation the
entity's pose. `PrimaryCapsules` reads a convolution's channels as capsules, `DynamicRouting` lets every input
capsule predict every output capsule through its own pose transform and sends it to those whose consensus its
prediction matches, and `CapsuleLength` turns class capsules into scores for `margin_loss`. torch.nn has none of them.

A capsule network as a layer sequence:

    conv2d -> relu -> primary_capsules -> dynamic_routing -> capsule_length
    (N, C, H, W) -> (N, I, in_dim) -> (N, K, out_dim) -> (N, K)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from striate.errors import ShapeError
from striate.layers._utils import _positive_int

__all__ = ["CapsuleLength", "DigitCapsules", "DynamicRouting", "PrimaryCapsules", "Squash", "margin_loss", "squash"]


def squash(s: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """v = |s|^2 / (1 + |s|^2) * s / |s|: keeps each vector's direction and maps its length into [0, 1).

    Args:
        s: Any shape; the vectors lie along `dim`.
        dim: The capsule dimension.
        eps: Added under the square root, so a zero vector maps to zero with a finite gradient.

    Returns:
        A tensor shaped like `s`.

    Example:
        >>> import torch
        >>> squash(torch.tensor([[3.0, 4.0]]))  # length 5 -> 25/26
        tensor([[0.5769, 0.7692]])
    """
    norm_sq = s.square().sum(dim, keepdim=True)
    return norm_sq / (1 + norm_sq) * s / torch.sqrt(norm_sq + eps)


def margin_loss(lengths: torch.Tensor, target: torch.Tensor, m_plus: float = 0.9, m_minus: float = 0.1,
                down_weight: float = 0.5) -> torch.Tensor:
    """L_k = T_k max(0, m+ - |v_k|)^2 + lambda (1 - T_k) max(0, |v_k| - m-)^2, summed over classes, batch mean.

    Args:
        lengths: `(N, K)` capsule lengths.
        target: `(N,)` class indices; T_k is 1 for the target class, else 0.
        m_plus: The length the target's capsule should reach (0.9 in the paper).
        m_minus: The length the other capsules should stay under (0.1).
        down_weight: lambda, the weight of the absent classes' term (0.5).

    Returns:
        A scalar.

    Example:
        >>> import torch
        >>> margin_loss(torch.tensor([[0.95, 0.05]]), torch.tensor([0]))
        tensor(0.)
    """
    present = F.one_hot(target, lengths.shape[1]).to(lengths.dtype)  # (N, K)
    absent = 1 - present
    loss = present * F.relu(m_plus - lengths).square() + down_weight * absent * F.relu(lengths - m_minus).square()
    return loss.sum(dim=1).mean()


class Squash(nn.Module):
    """`squash` as a layer.

    Shapes:
        Input: (N, *, D, *) with the capsules along `dim` -> Output: the same shape.

    Example:
        >>> import torch
        >>> Squash()(torch.randn(2, 10, 16)).shape
        torch.Size([2, 10, 16])
    """

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return squash(s, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class CapsuleLength(nn.Module):
    """The length of each capsule, the probability that its entity is present; for capsules from `squash`, in [0, 1).

    Shapes:
        Input: (N, K, D) -> Output: (N, K).

    Example:
        >>> import torch
        >>> CapsuleLength()(torch.tensor([[[3.0, 4.0], [0.0, 1.0]]]))
        tensor([[5., 1.]])
    """

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return v.norm(dim=-1)  # (N, K, D) -> (N, K)


class PrimaryCapsules(nn.Module):
    """A convolution whose `channels * dim` maps are read as `channels` maps of `dim`-D capsules, then squashed.

    Output channel `c * dim + d` of the convolution is component d of the capsules of map c; capsules are ordered
    map-major, then row-major over positions: capsule `c * H_out * W_out + h * W_out + w`.

    Shapes:
        Input: (N, C_in, H, W) -> Output: (N, channels * H_out * W_out, dim),
        H_out = (H - kernel_size) // stride + 1, likewise W_out (no padding: 20x20 -> 6x6 in the paper).

    Args:
        in_channels: Channels of the input.
        channels: Capsule maps (32 in the paper).
        dim: Dimension of each capsule (8).
        kernel_size: The convolution's kernel (9).
        stride: Its stride (2).

    Example:
        >>> import torch
        >>> PrimaryCapsules(256, channels=32, dim=8)(torch.randn(2, 256, 20, 20)).shape
        torch.Size([2, 1152, 8])
    """

    def __init__(self, in_channels: int, channels: int = 32, dim: int = 8, kernel_size: int = 9, stride: int = 2):
        super().__init__()
        self.channels, self.dim = _positive_int(channels, "channels"), _positive_int(dim, "dim")
        self.conv = nn.Conv2d(in_channels, channels * dim, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.conv(x)  # (N, channels * dim, H_out, W_out)
        n, _, h, w = u.shape
        u = u.reshape(n, self.channels, self.dim, h, w)  # (N, channels, dim, H_out, W_out)
        u = u.permute(0, 1, 3, 4, 2)  # (N, channels, H_out, W_out, dim)
        return squash(u.reshape(n, -1, self.dim))  # (N, channels * H_out * W_out, dim)


class DynamicRouting(nn.Module):
    """Output capsules computed from all input capsules by routing by agreement (Procedure 1 of the paper).

    Each input capsule i predicts output capsule j as u_hat_j|i = W_ij u_i. The routing logits b_ij start at 0 for
    every example; for `iterations` rounds: c_i = softmax_j(b_i), s_j = sum_i c_ij u_hat_j|i, v_j = squash(s_j) and
    b_ij += u_hat_j|i . v_j. The logits are not parameters, and the gradient flows through every round. The weights
    number in_capsules * out_capsules * out_dim * in_dim: 1,474,560 for the paper's 1152 8-D inputs and 10 16-D
    class capsules.

    Shapes:
        Input: (N, in_capsules, in_dim) -> Output: (N, out_capsules, out_dim).
        weight: (in_capsules, out_capsules, out_dim, in_dim).

    Args:
        in_capsules: Input capsules I (in a model spec, give it: 32 * 6 * 6 after the paper's primary capsules).
        out_capsules: Output capsules K, one per class in a classifier.
        in_dim: Dimension of the input capsules.
        out_dim: Dimension of the output capsules.
        iterations: Routing rounds (3 in the paper); 1 gives uniform coupling c_ij = 1 / K.

    Raises:
        ShapeError: When the input is not (N, in_capsules, in_dim) (in `forward`).

    Example:
        >>> import torch
        >>> DynamicRouting(1152, 10, in_dim=8, out_dim=16)(torch.randn(2, 1152, 8)).shape
        torch.Size([2, 10, 16])
    """

    def __init__(self, in_capsules: int, out_capsules: int, in_dim: int = 8, out_dim: int = 16, iterations: int = 3):
        super().__init__()
        self.in_capsules = _positive_int(in_capsules, "in_capsules")
        self.out_capsules = _positive_int(out_capsules, "out_capsules")
        self.in_dim, self.out_dim = _positive_int(in_dim, "in_dim"), _positive_int(out_dim, "out_dim")
        self.iterations = _positive_int(iterations, "iterations")
        self.weight = nn.Parameter(0.01 * torch.randn(in_capsules, out_capsules, out_dim, in_dim))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        self._check_input(u)
        u_hat = torch.einsum("ijdk,nik->nijd", self.weight, u)  # (N, I, K, out_dim)
        logits = u_hat.new_zeros(u_hat.shape[:3])  # (N, I, K)
        for iteration in range(self.iterations):
            coupling = logits.softmax(dim=2)  # (N, I, K), each input's coupling sums to 1 over the outputs
            v = squash((coupling.unsqueeze(-1) * u_hat).sum(dim=1))  # (N, K, out_dim)
            if iteration < self.iterations - 1:  # the last round's update would not change v
                logits = logits + (u_hat * v.unsqueeze(1)).sum(-1)  # agreement u_hat . v, (N, I, K)
        return v

    def _check_input(self, u: torch.Tensor) -> None:
        if u.dim() != 3:
            raise ShapeError(f"Invalid `input` shape for DynamicRouting: expected (N, in_capsules, in_dim) = "
                             f"(N, {self.in_capsules}, {self.in_dim}), received {tuple(u.shape)}.")
        for name, size, what in (("in_capsules", u.shape[1], "capsule count"), ("in_dim", u.shape[2], "dimension")):
            if getattr(self, name) != size:
                raise ShapeError(f"Invalid `{name}`: expected {size}, the {what} of the input "
                                 f"(N, {u.shape[1]}, {u.shape[2]}), received {getattr(self, name)}.")

    def extra_repr(self) -> str:
        return (f"{self.in_capsules}, {self.out_capsules}, in_dim={self.in_dim}, out_dim={self.out_dim}, "
                f"iterations={self.iterations}")


DigitCapsules = DynamicRouting
"""The paper's name for the routing layer that gives one capsule per class."""
