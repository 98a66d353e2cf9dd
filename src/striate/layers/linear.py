"""DropConnect (Wan et al., 2013): a fully connected layer whose connections, not units, are dropped in training.

torch.nn has dropout on activations only; DropConnect masks the weight matrix itself, so it is written here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from striate.errors import ConfigError


class DropConnectLinear(nn.Linear):
    """`nn.Linear` whose weights (and bias) are dropped independently with probability p in training.

    Training: every forward call draws a fresh Bernoulli(1 - p) keep-mask M for the weight (and one for the bias)
    and computes x @ (W * M / (1 - p))^T + b * m / (1 - p). One mask serves the whole batch; the paper draws one per
    example, which costs N times the weight's memory.

    Inference: the plain layer, x @ W^T + b. This is the mean-field rule done "inverted": scaling the kept weights
    by 1/(1 - p) in training makes E[W * M / (1 - p)] = W, so evaluation needs no rescaling, the stored weights are
    the ones to export, and a layer trained with p can be evaluated or fine-tuned without knowing p. (The
    alternative, multiplying by 1 - p at inference, gives the same expected pre-activations.) The paper's own
    inference is more accurate for a nonlinear unit a(u): it moment-matches u with a Gaussian of mean (1 - p) W x
    and variance p (1 - p) (W * W)(x * x), draws samples of a(u) and averages them, because a(E[u]) != E[a(u)].
    That needs the activation and is stochastic, so it is not done here.

    Shapes:
        Input: (*, in_features) -> Output: (*, out_features).

    Args:
        in_features: Size of each input sample.
        out_features: Size of each output sample.
        bias: Whether to add a learnable bias (dropped like the weights).
        p: Probability of dropping each connection, in [0, 1).
        device: Device of the parameters.
        dtype: Dtype of the parameters.

    Raises:
        ConfigError: When p is outside [0, 1).

    Example:
        >>> import torch
        >>> from striate.layers import DropConnectLinear
        >>> DropConnectLinear(128, 10, p=0.5)(torch.randn(4, 128)).shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        p: float = 0.5,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p < 1:
            raise ConfigError(f"Invalid `p`: expected a drop probability in [0, 1), received {p!r}.")
        super().__init__(in_features, out_features, bias, device, dtype)
        self.p = float(p)

    def sample_masks(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Draw fresh 0/1 keep-masks (1 with probability 1 - p) for the weight and the bias.

        Returns masks shaped (out_features, in_features) and (out_features,), or None without a bias. `forward`
        calls this once per training step; a test or Monte-Carlo inference can wrap it to see the masks.
        """
        keep = 1.0 - self.p
        weight_mask = torch.empty_like(self.weight, requires_grad=False).bernoulli_(keep)
        bias_mask = None if self.bias is None else torch.empty_like(self.bias, requires_grad=False).bernoulli_(keep)
        return weight_mask, bias_mask

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return F.linear(input, self.weight, self.bias)
        weight_mask, bias_mask = self.sample_masks()
        scale = 1.0 / (1.0 - self.p)
        weight = self.weight * weight_mask * scale  # dropped weights get no gradient
        bias = None if self.bias is None else self.bias * bias_mask * scale
        return F.linear(input, weight, bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"
