"""A two-stream network for clips (Simonyan & Zisserman 2014, "Two-stream convolutional networks for action
recognition in videos"): an appearance stream on the frames and a motion stream on how they change, fused late
(averaged class scores) or by concatenating the two streams' features.

The paper's motion stream reads stacked optical flow computed beforehand; here it reads frame differences computed
inside the model (`FrameDifference`), so training, `predict` and ONNX export all take raw clips and nothing must be
precomputed. A difference is causal: the motion at frame t is frame t minus frame t - 1 (zero at frame 0), so it
depends only on frames up to t. Both streams are the small per-frame CNN of the zoo's CNN+LSTM, so the network
trains on a CPU; each frame's features are averaged over space and time, as the paper averages its per-frame scores.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from striate.models._base import Classifier
from striate.models._registry import register_model
from striate.models.video import frame_encoder

FUSIONS = ("late", "concat")


class FrameDifference(nn.Module):
    """Temporal differences of a clip: `out[:, :, t] = x[:, :, t] - x[:, :, t - 1]`, and `out[:, :, 0] = 0`.

    Input: `(N, C, T, H, W)` -> Output: `(N, C, T, H, W)`; causal (frame t of the output reads frames t and t - 1).

    Example:
        >>> FrameDifference()(torch.arange(3.0).view(1, 1, 3, 1, 1)).flatten().tolist()
        [0.0, 1.0, 1.0]
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        previous = torch.cat([x[:, :, :1], x[:, :, :-1]], dim=2)  # frame t - 1 at position t, frame 0 repeated
        return x - previous


def per_frame(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a 2-D `encoder` to every frame: `(N, C, T, H, W)` -> `(N, F, T, H', W')`."""
    n, c, t, h, w = x.shape
    maps = encoder(x.transpose(1, 2).reshape(n * t, c, h, w))  # (N, T, C, H, W) -> (N * T, C, H, W) -> (N*T, F, ..)
    return maps.reshape(n, t, *maps.shape[1:]).transpose(1, 2)  # (N, T, F, H', W') -> (N, F, T, H', W')


class FusionHead(nn.Module):
    """Classifier over the pooled features of both streams `(N, F_a + F_m)` -> `(N, K)`.

    "late": one linear classifier per stream, their softmax scores averaged; the output is the log of that average (a
    log-probability, so the task's cross-entropy on it is the negative log of the fused score). "concat": one linear
    classifier on the concatenated features.
    """

    def __init__(self, appearance: int, motion: int, num_classes: int, fusion: str = "late"):
        super().__init__()
        self.split, self.fusion = (appearance, motion), fusion
        if fusion == "late":
            self.appearance, self.motion = nn.Linear(appearance, num_classes), nn.Linear(motion, num_classes)
        else:
            self.joint = nn.Linear(appearance + motion, num_classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        if self.fusion == "concat":
            return self.joint(pooled)
        a, m = pooled.split(self.split, dim=1)  # (N, F_a), (N, F_m)
        scores = torch.stack([self.appearance(a).log_softmax(1), self.motion(m).log_softmax(1)])  # (2, N, K)
        return torch.logsumexp(scores, dim=0) - torch.log(torch.tensor(2.0))  # log of the mean probability


class TwoStream(Classifier):
    """Appearance stream on the frames, motion stream on their differences, fused late or by concatenation.

    Input: `(N, C, T, H, W)`, any T, H, W. Features: `(N, F_a + F_m, T, H', W')`, both streams' frame maps stacked
    on the channel axis (H' = ceil(H / 2**len(widths))). Output: `(N, K)` logits (log-probabilities for late fusion).

    Args:
        widths: channels of each stream's per-frame CNN stages.
        fusion: "late" (average of the streams' class scores, as in the paper) or "concat".
        dropout: dropout on the pooled features.
    """

    feature_layout = "spatiotemporal"

    def __init__(self, num_classes: int = 101, in_channels: int = 3, widths: tuple[int, ...] = (32, 64, 128),
                 fusion: str = "late", dropout: float = 0.2):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, not {fusion!r}")
        self.difference = FrameDifference()
        self.appearance = frame_encoder(in_channels, widths)
        self.motion = frame_encoder(in_channels, widths)
        self.dropout = nn.Dropout(dropout)
        self.head = FusionHead(widths[-1], widths[-1], num_classes, fusion)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, T, H, W)` -> `(N, F_a + F_m, T, H', W')`."""
        return torch.cat([per_frame(self.appearance, x), per_frame(self.motion, self.difference(x))], dim=1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        pooled = features.mean(dim=(2, 3, 4))  # average over time and space: (N, F, T, H', W') -> (N, F)
        return self.head(self.dropout(pooled))

    def reset_classifier(self, num_classes: int) -> None:
        self.head = FusionHead(*self.head.split, num_classes, self.head.fusion)


@register_model("two_stream", paper="Simonyan & Zisserman 2014", input_shape=(3, 16, 112, 112))
def two_stream(num_classes: int = 101, in_channels: int = 3, input_size: tuple[int, int, int] = (16, 112, 112),
               widths: tuple[int, ...] = (32, 64, 128), fusion: str = "late", dropout: float = 0.2) -> TwoStream:
    """Two-stream network: appearance on frames, motion on frame differences, late or concatenation fusion."""
    return TwoStream(num_classes, in_channels, tuple(widths), fusion, dropout)
