"""``builtin:photos``: the color photographs scikit-image ships, a small real-photo eval set.

Only images that load offline are listed (some scikit-image data need a download and are left out; ``cat`` is
the same photo as ``chelsea``). It is an eval set: its train split is the same items.
"""

from __future__ import annotations

import numpy as np

from bench.core.images import to_rgb

#: name -> caption
PHOTOS: dict[str, str] = {
    "astronaut": "a portrait of an astronaut in an orange suit in front of a flag and a rocket",
    "coffee": "a cup of coffee on a saucer with a spoon",
    "chelsea": "a tabby cat looking to the side",
    "rocket": "a rocket on its launch pad under a blue sky",
    "colorwheel": "a color wheel of saturated hues",
    "hubble_deep_field": "a deep field photograph of many distant galaxies",
    "immunohistochemistry": "a microscope image of stained tissue",
    "retina": "a photograph of the retina of an eye",
    "logo": "the scikit-image logo, a snake on a white background",
}


def load_photo(name: str) -> np.ndarray:
    """The named photo as RGB uint8 at its native size (alpha composited on white)."""
    from skimage import data

    return to_rgb(getattr(data, name)())
