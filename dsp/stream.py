"""The streaming contract every processing step implements.

A long file is never held in memory: the job runner decodes it in blocks, feeds each block
through a chain of :class:`BlockProcessor` objects and encodes what comes out. A processor
carries its own state (overlap buffers, noise estimates) from block to block, so the output is
the same whatever the block sizes are (tests assert this), and compensates its own latency so
that the total output length equals the total input length.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from dsp._typing import Audio
from dsp._validate import as_2d, check_block, valid_audio

__all__ = ["BlockProcessor", "PerChannel", "run_blocks", "run_processor"]


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


class PerChannel:
    """A :class:`BlockProcessor` that runs one mono processor per channel, each on its channel alone.

    For recordings whose channels hold different sources (two microphones, each with its own
    voice and noise), where a processor linked across channels would let one channel's noise
    decide the other's gains. Outputs are emitted as far as every channel has produced them.

    Parameters
    ----------
    processors : sequence of BlockProcessor
        One per channel, each built for one channel at the same rate.

    Examples
    --------
    >>> from dsp.denoise import NoiseReducer
    >>> pc = PerChannel([NoiseReducer(16000, 1), NoiseReducer(16000, 1)])
    >>> x = np.zeros((2, 16000), np.float32)
    >>> np.concatenate([pc.process(x), pc.flush()], axis=-1).shape
    (2, 16000)
    """

    def __init__(self, processors: Sequence[BlockProcessor]) -> None:
        if not processors or any(p.channels != 1 for p in processors):
            raise ValueError("PerChannel takes one single-channel processor per channel")
        self.processors = list(processors)
        self.channels = len(self.processors)
        self.sr = self.processors[0].sr
        self._held: list[Audio] = [np.zeros(0, np.float32) for _ in self.processors]

    def _emit(self, outs: list[Audio]) -> Audio:
        self._held = [np.concatenate([h, o[0]]) for h, o in zip(self._held, outs, strict=True)]
        k = min(h.size for h in self._held)
        out = np.stack([h[:k] for h in self._held]).astype(np.float32, copy=False)
        self._held = [h[k:] for h in self._held]
        return out

    def process(self, block: Audio) -> Audio:
        """Take a ``(channels, m)`` block, return the ``(channels, k)`` samples every channel has made."""
        x = check_block(block, self.channels)
        return self._emit([p.process(x[c : c + 1]) for c, p in enumerate(self.processors)])

    def flush(self) -> Audio:
        """Return every sample still held back; the processor is finished afterwards."""
        return self._emit([p.flush() for p in self.processors])

    def report(self) -> dict[str, Any]:
        """The first channel's report, with each channel's under ``per_channel``."""
        reports = [p.report() for p in self.processors]
        return {**reports[0], "channels_processed": "each channel separately", "per_channel": reports}
