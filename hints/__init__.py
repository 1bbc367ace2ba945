"""The shared hint generator: 5 channels = 1 Canny edge channel + 4 RGBA color-stroke channels.

``make_hint(image, seed, config)`` is used for training and eval data; ``load_user_hint(lineart, strokes,
resolution)`` makes the same hint from a person's own drawing. See `hints.generator` for the layout.
"""

from hints.config import HintConfig
from hints.generator import NUM_CHANNELS, CannyEdges, ColorStrokes, make_hint
from hints.user import load_user_hint

__all__ = ["NUM_CHANNELS", "CannyEdges", "ColorStrokes", "HintConfig", "load_user_hint", "make_hint"]
