"""The streaming contract every processing step implements.

A long file is never held in memory: the job runner decodes it in blocks, feeds each block
through a chain of :class:`BlockProcessor` objects and encodes what comes out. A processor
carries its own state (overlap buffers, noise estimates) from block to block, so the output is
the same whatever the block sizes are (tests assert this), and compensates its own latency so
that the total output length equals the total input length.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

import numpy as np

from dsp._typing import Audio
from dsp._validate import as_2d, valid_audio

__all__ = ["BlockProcessor", "run_blocks", "run_processor"]


@runtime_checkable
class BlockProcessor(Protocol):
    """A stateful streaming step over float32 ``(channels, n)`` blocks.

    ``process`` may return fewer samples than it received (it is buffering), ``flush`` returns
    the rest; over a whole stream ``sum(len(outputs)) == sum(len(inputs))``. ``report`` says what
    was applied, as JSON-ready data, for the per-step job report.
    """

    channels: int
    sr: int

    def process(self, block: Audio) -> Audio:
        """Take a ``(channels, m)`` block, return ``(channels, k)`` output samples, ``k >= 0``."""
        ...

    def flush(self) -> Audio:
        """Return every sample still held back; the processor is finished afterwards."""
        ...

    def report(self) -> dict[str, Any]:
        """Describe what was done to the audio (step name, parameters, measured values)."""
        ...


def run_blocks(processor: BlockProcessor, blocks: Iterable[Audio]) -> Iterator[Audio]:
    """Drive ``processor`` over ``blocks`` and yield its non-empty outputs, then the flush."""
    for block in blocks:
        out = processor.process(block)
        if out.shape[-1]:
            yield out
    tail = processor.flush()
    if tail.shape[-1]:
        yield tail


def run_processor(processor: BlockProcessor, audio: Audio, *, block_size: int = 65536) -> Audio:
    """Run a whole in-memory signal through ``processor`` in blocks of ``block_size`` samples.

    ``audio`` is ``(n,)`` or ``(channels, n)``; the result has the same shape and dtype.
    """
    audio = valid_audio(audio)
    x = as_2d(audio)
    blocks = (x[:, i : i + block_size] for i in range(0, x.shape[-1], block_size))
    parts = list(run_blocks(processor, blocks))
    out = np.concatenate(parts, axis=-1) if parts else np.zeros((x.shape[0], 0), np.float32)
    out = out.astype(np.float32, copy=False)
    return out[0] if audio.ndim == 1 else out
