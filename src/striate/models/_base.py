"""The interface every striate classifier shares, which makes fine-tuning and explanations generic."""

from __future__ import annotations

import torch
import torch.nn as nn


class Classifier(nn.Module):
    """A network split into `forward_features` (everything up to the classifier) and `forward_head`.

    Subclasses define `forward_features` and a `head` module; `reset_classifier` swaps the head for a new class count.
    """

    head: nn.Module

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final linear layer with a freshly initialised one with `num_classes` outputs."""
        self.head = nn.Linear(self.head.in_features, num_classes)
