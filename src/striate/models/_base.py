"""The interface every striate model shares, which makes training, fine-tuning and explanations generic.

The contract:
- `forward_features(x)` returns the unpooled feature map (timm's convention) and `feature_layout` says how to read
  it: "spatial" `(N, C, H, W)`, "temporal" `(N, C, L)`, "spatiotemporal" `(N, C, T, H, W)`, "capsules" `(N, I, D)`
  or "vector" `(N, F)` for networks whose last features are not a map.
- `forward_head(features)` does the rest (pooling, hidden layers, the classifier); `forward` is the two chained.
- `reset_classifier(num_outputs)` swaps the output layer for a fresh one.
- `output_kind` says what the output means: "logits", "probabilities", "capsule_lengths", "q_values" or "values".
- `compute_loss(output, target)` returns a loss the model brings itself (a capsule network's margin loss), or None
  to use the task's; `apply_constraints()` runs after every optimizer step (a Text CNN's max-norm).

The trainer reaches these hooks through `unwrap`, so a `DistributedDataParallel` or `torch.compile` wrapper cannot
hide them.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class Classifier(nn.Module):
    """A network split into `forward_features` (everything up to the head) and `forward_head`.

    Subclasses define `forward_features` and a `head` module; `reset_classifier` swaps the head for a new output count.
    """

    head: nn.Module
    output_kind: str = "logits"
    feature_layout: str = "spatial"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final linear layer with a freshly initialised one with `num_classes` outputs."""
        self.head = nn.Linear(self.head.in_features, num_classes)

    def compute_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        """The model's own loss for `output` against `target`, or None to use the task's loss."""
        return None

    def apply_constraints(self) -> None:
        """Constraints the model imposes on its own weights after each optimizer step (none by default)."""


def unwrap(model: nn.Module) -> nn.Module:
    """The user's network inside `DistributedDataParallel` / `DataParallel` (`.module`) and `torch.compile`
    (`._orig_mod`) wrappers, however they are nested."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel | nn.DataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


def output_kind(model: nn.Module) -> str:
    """What `model`'s output means ("logits" for plain torch modules that do not say)."""
    return getattr(unwrap(model), "output_kind", "logits")


def model_loss(model: nn.Module, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    """The model's own loss (see `Classifier.compute_loss`), or None; plain torch modules bring none."""
    inner = unwrap(model)
    return inner.compute_loss(output, target) if isinstance(inner, Classifier) else None


def apply_model_constraints(model: nn.Module) -> None:
    inner = unwrap(model)
    if isinstance(inner, Classifier):
        inner.apply_constraints()
