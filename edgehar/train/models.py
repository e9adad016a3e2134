"""HAR ResNeXt variants. Every model takes normalized windows (batch, window, 9) -> logits
(batch, classes); the window is the run's (128 samples by default).

One bottleneck (1x1 reduce -> grouped kxk with ``cardinality`` groups -> 1x1 expand, projection
shortcut) serves both layouts: 1D convolves over time with the nine channels as features; 2D
keeps the seed article's image layout (1, 128, 9) with (k, 1) kernels so sensor axes are not
mixed before the pooled head.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..runtime.spec import WINDOW
from .registry import register_model


@dataclass(frozen=True)
class ResNeXtConfig:
    dims: int = 1                          # 1: Conv1d over time; 2: (k, 1) Conv2d image layout
    stem: int = 32
    stages: tuple[int, ...] = (64, 128, 256)   # output channels per stage
    blocks: tuple[int, ...] = (1, 1, 1)
    cardinality: int = 8
    base_width: int = 4                    # channels per group at the first stage
    kernel: int = 5
    dropout: float = 0.2
    num_classes: int = 6
    in_channels: int = 9
    window: int = WINDOW

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stages"], d["blocks"] = list(self.stages), list(self.blocks)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ResNeXtConfig:
        return cls(**{**d, "stages": tuple(d["stages"]), "blocks": tuple(d["blocks"])})


def _conv(dims: int, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Module:
    if dims == 1:
        return nn.Conv1d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
    return nn.Conv2d(cin, cout, (k, 1), (stride, 1), (k // 2, 0), groups=groups, bias=False)


def _bn(dims: int, c: int) -> nn.Module:
    return nn.BatchNorm1d(c) if dims == 1 else nn.BatchNorm2d(c)


class Bottleneck(nn.Module):
    def __init__(self, dims: int, cin: int, cout: int, stride: int, cardinality: int,
                 width: int, kernel: int):
        super().__init__()
        self.reduce = nn.Sequential(_conv(dims, cin, width, 1), _bn(dims, width), nn.ReLU())
        self.grouped = nn.Sequential(_conv(dims, width, width, kernel, stride, cardinality),
                                     _bn(dims, width), nn.ReLU())
        self.expand = nn.Sequential(_conv(dims, width, cout, 1), _bn(dims, cout))
        self.shortcut = (nn.Identity() if stride == 1 and cin == cout else
                         nn.Sequential(_conv(dims, cin, cout, 1, stride), _bn(dims, cout)))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.expand(self.grouped(self.reduce(x))) + self.shortcut(x))


class HarResNeXt(nn.Module):
    def __init__(self, cfg: ResNeXtConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.dims
        cin = cfg.in_channels if d == 1 else 1
        self.stem = nn.Sequential(_conv(d, cin, cfg.stem, cfg.kernel), _bn(d, cfg.stem), nn.ReLU())
        layers, c = [], cfg.stem
        for i, (cout, n) in enumerate(zip(cfg.stages, cfg.blocks)):
            # Group width doubles with the stage, as in ResNeXt's template.
            width = cfg.cardinality * cfg.base_width * 2 ** i
            for j in range(n):
                layers.append(Bottleneck(d, c, cout, 2 if j == 0 else 1, cfg.cardinality, width,
                                         cfg.kernel))
                c = cout
        self.stages = nn.Sequential(*layers)
        self.drop = nn.Dropout(cfg.dropout)
        # 2D keeps one feature per sensor axis (seed: AdaptiveAvgPool2d((1, 9)) -> 512*9 inputs).
        self.fc = nn.Linear(c * (cfg.in_channels if d == 2 else 1), cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.dims == 1:
            h = self.stages(self.stem(x.transpose(1, 2)))
            h = h.mean(dim=2)   # global average pool over time, exportable everywhere
        else:
            h = self.stages(self.stem(x.unsqueeze(1)))
            h = h.mean(dim=2).flatten(1)  # == AdaptiveAvgPool2d((1, 9)) for a width-9 map
        return self.fc(self.drop(h))


def _conv1d_as_conv2d(module: nn.Module) -> None:
    """In place: every Conv1d / BatchNorm1d becomes the identical (k, 1) Conv2d / BatchNorm2d."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Conv1d):
            conv = nn.Conv2d(child.in_channels, child.out_channels, (child.kernel_size[0], 1),
                             (child.stride[0], 1), (child.padding[0], 0), groups=child.groups,
                             bias=child.bias is not None)
            conv.weight.data = child.weight.data.unsqueeze(-1).clone()
            if child.bias is not None:
                conv.bias.data = child.bias.data.clone()
            setattr(module, name, conv)
        elif isinstance(child, nn.BatchNorm1d):
            bn = nn.BatchNorm2d(child.num_features, child.eps, child.momentum)
            bn.load_state_dict(child.state_dict())
            setattr(module, name, bn)
        else:
            _conv1d_as_conv2d(child)


class Conv2dView(nn.Module):
    """A trained 1D model re-expressed with (k, 1) Conv2d on [N, C, T, 1], same weights, same
    outputs. litert-torch lowers Conv1d through reshapes and transposes around every conv
    (95 ops for the default model); this view converts to 26 ops and runs ~25 % faster in
    LiteRT. Module names (stem, stages, fc) are kept, so --float-modules still applies."""

    def __init__(self, model: HarResNeXt):
        super().__init__()
        m = copy.deepcopy(model).eval()
        _conv1d_as_conv2d(m)
        self.cfg = model.cfg
        self.stem, self.stages, self.drop, self.fc = m.stem, m.stages, m.drop, m.fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stages(self.stem(x.transpose(1, 2).unsqueeze(-1)))
        return self.fc(self.drop(h.mean(dim=(2, 3))))


def tflite_view(model: nn.Module) -> nn.Module:
    """The form of ``model`` handed to the TFLite converter: a 1D ResNeXt as its Conv2d view,
    any other model as it is."""
    return Conv2dView(model) if isinstance(model, HarResNeXt) and model.cfg.dims == 1 else model


def build(**kw) -> HarResNeXt:
    return HarResNeXt(ResNeXtConfig(**kw))


@register_model
def resnext1d_tiny(**kw) -> HarResNeXt:
    return build(**{"stem": 16, "stages": (32, 64, 128), "cardinality": 4, "base_width": 4, **kw})


@register_model
def resnext1d_small(**kw) -> HarResNeXt:
    return build(**{"stem": 24, "stages": (48, 96, 192), "cardinality": 8, "base_width": 3, **kw})


@register_model
def resnext1d_medium(**kw) -> HarResNeXt:
    return build(**{"stem": 32, "stages": (64, 128, 256), "cardinality": 8, "base_width": 4, **kw})


@register_model
def resnext1d_base(**kw) -> HarResNeXt:
    return build(**{"stem": 64, "stages": (128, 256, 512), "blocks": (1, 2, 1),
                    "cardinality": 16, "base_width": 4, **kw})


@register_model
def resnext2d_seed(**kw) -> HarResNeXt:
    # Group width 2 x 32 groups = 64 channels at the first stage, doubling per stage: 768,710
    # params and 95.6 M MACs, near the article's 1,007,686 params / 104.65 M.
    return build(**{"dims": 2, "stem": 64, "stages": (64, 128, 256, 512), "blocks": (1, 1, 1, 1),
                    "cardinality": 32, "base_width": 2, "kernel": 3, "dropout": 0.0, **kw})


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# how `@`, torch.matmul and bmm reach a TorchFunctionMode
_PRODUCTS = (torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.bmm,
             torch.Tensor.bmm)


def count_macs(model: nn.Module) -> int:
    """Multiply-accumulates of one window through every Conv, Linear, LSTM/GRU and attention
    (nn.MultiheadAttention, and matrix products written in a forward, as TinyHAR's); BN folds
    away; activations, softmax and norms are not counted."""
    from torch.overrides import TorchFunctionMode

    from .registry import io_of

    io = io_of(model)
    macs, in_attention = 0, 0

    def hook(mod, inp, out):
        nonlocal macs
        if isinstance(mod, (nn.Conv1d, nn.Conv2d)):
            k = mod.weight[0].numel()  # (cin/groups) * kernel elements
            macs += out.numel() * k
        elif isinstance(mod, nn.Linear):
            macs += out.numel() // mod.out_features * mod.in_features * mod.out_features
        elif isinstance(mod, (nn.LSTM, nn.GRU)):
            gates = 4 if isinstance(mod, nn.LSTM) else 3
            steps = inp[0].shape[1] if mod.batch_first else inp[0].shape[0]
            dirs = 2 if mod.bidirectional else 1
            for layer in range(mod.num_layers):
                cin = mod.input_size if layer == 0 else mod.hidden_size * dirs
                macs += dirs * steps * gates * mod.hidden_size * (cin + mod.hidden_size)

    def attention_in(mod, inp):
        nonlocal in_attention
        in_attention += 1

    def attention_out(mod, inp, out):
        nonlocal macs, in_attention
        in_attention -= 1
        q = inp[0]   # (L, N, E) or (N, L, E): one window, so L is the non-unit axis
        length, embed = max(q.shape[0], q.shape[1]), mod.embed_dim
        macs += 4 * length * embed * embed + 2 * length * length * embed

    class Products(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            nonlocal macs
            out = func(*args, **(kwargs or {}))
            if func in _PRODUCTS and not in_attention:
                macs += out.numel() * args[0].shape[-1]
            return out

    kinds = (nn.Conv1d, nn.Conv2d, nn.Linear, nn.LSTM, nn.GRU)
    # a MultiheadAttention's out_proj is a Linear: counted once, by the attention hook
    inner = {id(m.out_proj) for m in model.modules() if isinstance(m, nn.MultiheadAttention)}
    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, kinds) and id(m) not in inner]
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):
            handles += [m.register_forward_pre_hook(attention_in),
                        m.register_forward_hook(attention_out)]
    was_training = model.training
    model.eval()
    with torch.no_grad(), Products():
        model(torch.zeros(1, io.window, io.channels))
    model.train(was_training)
    for h in handles:
        h.remove()
    return macs
