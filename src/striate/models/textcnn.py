"""CNN for sentence classification (Kim 2014, "Convolutional neural networks for sentence classification")."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from striate.errors import ConfigError
from striate.models._base import Classifier
from striate.models._registry import register_model
from striate.regularizers import max_norm_

VARIANTS = ("rand", "static", "non-static", "multichannel")


class TextCNN(Classifier):
    """Word embeddings, parallel 1-D convolutions of several widths, max-over-time pooling, dropout, linear output.

    The paper's setting: 300-d embeddings, filter widths 3, 4, 5 with 100 maps each, ReLU, max-over-time pooling
    (one feature per map, so any sentence length works), dropout 0.5 on the 300 pooled features, and a max-norm
    constraint ||w||_2 <= 3 on the output layer's weight vectors, applied after every step (`apply_constraints`).

    Variants (section 3.1): "rand" and "non-static" train the embeddings, "static" freezes them, "multichannel" has
    two embedding channels, one frozen and one trained, each filter applied to both and the results summed. Load
    pretrained vectors (word2vec in the paper) with `load_embeddings`.

    Input: `(N, L)` token ids in [0, vocab_size), 0 being the padding token; sentences shorter than the widest filter
    are padded. Float ids (as a generic loader may produce) are cast to integers. Output: `(N, K)` logits.

    Args:
        vocab_size: number of embedding rows (the training vocabulary, padding and unknown tokens included).
        embedding_dim: embedding size.
        kernel_sizes: filter widths, in words.
        out_channels: feature maps per width.
        dropout: dropout on the pooled features.
        variant: one of "rand", "static", "non-static", "multichannel".
    """

    max_norm = 3.0
    padding_idx = 0
    feature_layout = "vector"  # max-over-time pooling is part of the features: the widths give maps of unequal length

    def __init__(self, num_classes: int = 2, vocab_size: int = 18765, embedding_dim: int = 300,
                 kernel_sizes: tuple[int, ...] = (3, 4, 5), out_channels: int = 100, dropout: float = 0.5,
                 variant: str = "non-static"):
        super().__init__()
        if variant not in VARIANTS:
            raise ConfigError(f"Invalid `variant` for the Text CNN: expected one of {', '.join(VARIANTS)}, "
                              f"received {variant!r}.")
        self.variant = variant
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=self.padding_idx)
        self.static_embedding = None
        if variant == "multichannel":
            self.static_embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=self.padding_idx)
            self.static_embedding.weight.requires_grad_(False)
        self.embedding.weight.requires_grad_(variant != "static")
        self.reset_embeddings()
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, out_channels, k) for k in kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(out_channels * len(kernel_sizes), num_classes)

    def reset_embeddings(self) -> None:
        """Kim's initialisation: every row uniform in [-0.25, 0.25] (about the variance of word2vec's vectors), the
        padding row zero. torch's default N(0, 1) rows are 16x larger in variance and cost accuracy in CNN-rand."""
        with torch.no_grad():
            for embedding in (self.embedding, self.static_embedding):
                if embedding is not None:
                    embedding.weight.uniform_(-0.25, 0.25)
                    embedding.weight[self.padding_idx].zero_()

    def load_embeddings(self, vectors: torch.Tensor) -> None:
        """Copy pretrained `(vocab_size, embedding_dim)` vectors into the embedding channel(s)."""
        with torch.no_grad():
            for embedding in (self.embedding, self.static_embedding):
                if embedding is not None:
                    embedding.weight.copy_(vectors)

    def _channels(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """Each embedding channel of the tokens as `(N, E, L)`."""
        tables = [self.embedding] if self.static_embedding is None else [self.embedding, self.static_embedding]
        return [table(tokens).transpose(1, 2) for table in tables]  # (N, L, E) -> (N, E, L)

    def forward_features(self, tokens: torch.Tensor) -> torch.Tensor:
        """`(N, L)` tokens -> `(N, out_channels * len(kernel_sizes))` max-over-time features (before dropout)."""
        tokens = tokens if not tokens.is_floating_point() else tokens.long()
        widest = max(conv.kernel_size[0] for conv in self.convs)
        tokens = F.pad(tokens, (0, max(0, widest - tokens.shape[1])), value=self.padding_idx)
        channels = self._channels(tokens)
        pooled = [sum(F.relu(conv(x)) for x in channels).amax(dim=2) for conv in self.convs]  # each (N, C_out)
        return torch.cat(pooled, dim=1)  # (N, C_out * widths)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(features))

    def apply_constraints(self) -> int:
        """Rescale each output-layer weight vector to ||w||_2 <= `max_norm`; returns how many were rescaled."""
        return max_norm_(self.head, self.max_norm)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh output layer for `num_classes`."""
        self.head = nn.Linear(self.head.in_features, num_classes)


@register_model("textcnn", paper="Kim 2014", input_shape=(56,), inputs=("tokens",))
def textcnn(num_classes: int = 2, vocab_size: int = 18765, input_size: tuple[int, ...] = (56,),
            embedding_dim: int = 300, kernel_sizes: tuple[int, ...] = (3, 4, 5), out_channels: int = 100,
            dropout: float = 0.5, variant: str = "non-static") -> TextCNN:
    """Text CNN on token ids (N, L) from a vocabulary of `vocab_size` (MR: 18,765 words, 5,990,402 parameters)."""
    return TextCNN(num_classes, vocab_size, embedding_dim, tuple(kernel_sizes), out_channels, dropout, variant)
