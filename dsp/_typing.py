"""Array aliases shared by the DSP package.

``Audio`` is always float32 and shaped ``(n,)`` (mono) or ``(channels, n)``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["Audio", "BoolArray", "FloatArray"]

#: float32 samples, shape ``(n,)`` or ``(channels, n)``, nominal range [-1, 1].
Audio = npt.NDArray[np.float32]
#: Any float array (features, gains, spectra).
FloatArray = npt.NDArray[np.floating]
#: Boolean masks (speech frames, click positions).
BoolArray = npt.NDArray[np.bool_]
