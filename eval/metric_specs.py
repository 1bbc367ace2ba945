"""The metrics, as a table of named specs: label, unit, direction and kind, in one place.

The harness computes metrics by name, `eval.csv` stores them by name, and the report looks up how to label,
sort and mark them here, so adding a metric never means editing the report.
"""

from __future__ import annotations

from dataclasses import dataclass

#: CIEDE2000 difference of about one just-noticeable difference
JND = 2.3
#: a clearly visible but still "the same hue family" difference
CLOSE = 10.0


@dataclass(frozen=True)
class MetricSpec:
    """What a metric is: how to label it, its unit, which direction is better, and how it is computed."""

    name: str
    label: str
    unit: str
    higher_is_better: bool
    #: "image" (one value per image, mean over images), "set" (one value for the whole set), "cost"
    kind: str
    description: str


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in [
        MetricSpec(
            "stroke_de",
            "stroke ΔE00",
            "CIEDE2000",
            False,
            "image",
            "mean CIEDE2000 between the output and the stroke colour over the stroke pixels (alpha > 0) of each "
            "image, averaged over images: the headline metric",
        ),
        MetricSpec(
            "stroke_jnd_share",
            "stroke px ΔE<2.3",
            "share",
            True,
            "image",
            "share of stroke pixels whose CIEDE2000 to the stroke colour is under 2.3 (one just-noticeable "
            "difference), averaged over images",
        ),
        MetricSpec(
            "stroke_close_share",
            "stroke px ΔE<10",
            "share",
            True,
            "image",
            "share of stroke pixels whose CIEDE2000 to the stroke colour is under 10, averaged over images",
        ),
        MetricSpec(
            "image_de", "image ΔE00", "CIEDE2000", False, "image", "mean CIEDE2000 to the target over all pixels"
        ),
        MetricSpec("psnr", "PSNR", "dB", True, "image", "PSNR to the target on 8-bit RGB (capped at 100 dB)"),
        MetricSpec(
            "edge_f1",
            "edge F1",
            "F1",
            True,
            "image",
            "F1 between the output's Canny edges and the hint's edge channel, with a small pixel tolerance",
        ),
        MetricSpec("lpips", "LPIPS", "AlexNet", False, "image", "LPIPS (AlexNet, v0.1) to the target"),
        MetricSpec("fid", "FID", "Inception-2048", False, "set", "FID between outputs and the eval targets"),
        MetricSpec(
            "kid", "KID", "MMD²", False, "set", "KID (cubic polynomial kernel, unbiased MMD²), outputs vs targets"
        ),
        MetricSpec(
            "sampling_s_per_image",
            "sampling time",
            "s/image",
            False,
            "cost",
            "wall-clock sampling seconds per image on the machine that ran the eval",
        ),
        MetricSpec(
            "sampling_usd_per_1k",
            "sampling cost",
            "$ per 1000 images",
            False,
            "cost",
            "A10 dollars per 1000 sampled images, by the run's budget method",
        ),
    ]
}

#: the metrics computed from pixels alone (no network): always available
PIXEL_METRICS = ("stroke_de", "stroke_jnd_share", "stroke_close_share", "image_de", "psnr", "edge_f1")
#: the metrics of the stroke adherence curve (hints with 1, 2, 4, ... strokes)
ADHERENCE_METRICS = ("stroke_de", "stroke_jnd_share", "stroke_close_share")


def spec(name: str) -> MetricSpec:
    """The spec of metric ``name`` (unknown names get a neutral spec, so old CSV rows still render)."""
    return METRICS.get(name, MetricSpec(name, name, "", False, "image", name))
