"""The shared hint generator: 5 channels = 1 Canny edge channel + 4 RGBA color-stroke channels."""

from hints.config import HintConfig

__all__ = ["HintConfig"]
