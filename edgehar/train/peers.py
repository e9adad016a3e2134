"""Peer models from the HAR literature, re-implemented from their papers and registered so
they train, export and replay through the same pipe as the ResNeXts.

Both take the windows as a one-channel image (time x sensor channel) and convolve each sensor
channel with the same (k, 1) kernels before mixing channels, as their papers do.
"""

from __future__ import annotations

import torch
from torch import nn

from ..runtime.spec import WINDOW
from .registry import register_model


class DeepConvLSTM(nn.Module):
    """Ordonez & Roggen, Sensors 2016: four (5, 1) convolutions of 64 filters without padding,
    then two LSTM layers of 128 units over the remaining time steps (sensor channels flattened
    into the features) and a linear layer on the last step. Dropout 0.5 before each LSTM layer
    and the classifier, as in their Lasagne code."""

    def __init__(self, num_classes: int = 6, in_channels: int = 9, window: int = WINDOW,
                 filters: int = 64, kernel: int = 5, hidden: int = 128, dropout: float = 0.5):
        super().__init__()
        convs, cin = [], 1
        for _ in range(4):
            convs += [nn.Conv2d(cin, filters, (kernel, 1)), nn.ReLU()]
            cin = filters
        self.convs = nn.Sequential(*convs)
        self.drop = nn.Dropout(dropout)
        self.lstm1 = nn.LSTM(filters * in_channels, hidden, batch_first=True)
        self.lstm2 = nn.LSTM(hidden, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x.unsqueeze(1))                 # (b, f, t', c)
        b, f, t, c = h.shape
        h = h.permute(0, 2, 1, 3).reshape(b, t, f * c)  # features per time step
        h, _ = self.lstm1(self.drop(h))
        h, _ = self.lstm2(self.drop(h))
        return self.fc(self.drop(h[:, -1]))


class _ChannelAttention(nn.Module):
    """TinyHAR's cross-channel interaction: self-attention among the sensor channels at each
    time step, added to its input through a learnt gate that starts at zero."""

    def __init__(self, features: int):
        super().__init__()
        self.query = nn.Linear(features, features, bias=False)
        self.key = nn.Linear(features, features, bias=False)
        self.value = nn.Linear(features, features, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # (n, channels, features)
        # softmax over the queries' axis (dim 1), as the authors' code does
        beta = torch.softmax(self.query(x) @ self.key(x).transpose(1, 2), dim=1)
        return x + self.gamma * (beta.transpose(1, 2) @ self.value(x))


class TinyHAR(nn.Module):
    """Zhou et al., ISWC 2022: per-channel convolutions (stride 2 in every second layer),
    self-attention across sensor channels, a fully connected fusion of the channels, an LSTM
    over time and a gated attention pooling over time added to the last step."""

    def __init__(self, num_classes: int = 6, in_channels: int = 9, window: int = WINDOW,
                 filters: int = 20, kernel: int = 5, layers: int = 4, dropout: float = 0.1):
        super().__init__()
        convs, cin = [], 1
        for i in range(layers):
            convs += [nn.Conv2d(cin, filters, (kernel, 1), (2 if i % 2 else 1, 1),
                                (kernel // 2, 0)), nn.ReLU(), nn.BatchNorm2d(filters)]
            cin = filters
        self.convs = nn.Sequential(*convs)
        self.interact = _ChannelAttention(filters)
        self.drop = nn.Dropout(dropout)
        self.fuse = nn.Sequential(nn.Linear(filters * in_channels, 2 * filters), nn.ReLU())
        self.lstm = nn.LSTM(2 * filters, 2 * filters, batch_first=True)
        self.att_fc = nn.Linear(2 * filters, 2 * filters)
        self.att_score = nn.Linear(2 * filters, 1, bias=False)
        self.att_gamma = nn.Parameter(torch.zeros(1))
        self.fc = nn.Linear(2 * filters, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x.unsqueeze(1))                    # (b, f, t', c)
        b, f, t, c = h.shape
        h = h.permute(0, 2, 3, 1).reshape(b * t, c, f)    # channels attend at each step
        h = self.drop(self.interact(h)).reshape(b, t, c * f)
        h, _ = self.lstm(self.fuse(h))                    # (b, t', 2f)
        w = torch.softmax(self.att_score(torch.tanh(self.att_fc(h))), dim=1)
        context = h[:, -1] + self.att_gamma * (w * h).sum(1)
        return self.fc(context)


@register_model
def deepconvlstm(**kw) -> DeepConvLSTM:
    return DeepConvLSTM(**kw)


@register_model
def tinyhar(**kw) -> TinyHAR:
    return TinyHAR(**kw)
