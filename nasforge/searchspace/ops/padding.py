"""The 'same' padding rules, written once for the builder, the exporter and the supernet
(torch-free: they return numbers)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SamePadding:
    """How a convolution keeps 'same' output size: `symmetric` padding inside the conv when
    the dilated kernel span is odd; otherwise none inside and a zero pad of (`before`,
    `after`) per spatial axis in front of it."""

    symmetric: int
    before: int = 0
    after: int = 0

    @property
    def asymmetric(self) -> bool:
        return self.before != self.after

    def pad(self, dims: int) -> tuple[int, ...]:
        """The argument of ``nn.ZeroPad{dims}d`` (last axis first, as torch's pad reads it)."""
        return (self.before, self.after) * dims


def same_padding(kernel: int, dilation: int = 1) -> SamePadding:
    """'same' padding of a kernel of `kernel` taps spaced by `dilation`."""
    span = dilation * (kernel - 1) + 1
    if span % 2 == 1:
        return SamePadding(span // 2)
    return SamePadding(0, (span - 1) // 2, span // 2)


def pool_padding(size: int, stride: int) -> int:
    """Padding of an overlapping pool (0 < stride < size, odd size): size // 2."""
    return size // 2 if stride else 0
