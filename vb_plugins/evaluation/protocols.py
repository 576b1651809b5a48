"""Published evaluation protocols as presets: valid depth ranges, crops, validity masks, class lists.

Each preset names where its numbers come from, so a report can say which paper's protocol it followed.

Depth presets (valid ground truth is ``min_depth < gt < max_depth``, strict on both sides, as BTS and
Marigold; predictions are clipped into the same range before the metrics, as both do):

============== ============ ======== =============== ============ ==========================================
preset          min (m)      max (m)  crop            PNG scale    source
============== ============ ======== =============== ============ ==========================================
none            1e-3         inf      none            (required)   BTS's ``min_depth_eval`` default
nyu             1e-3         10       nyu-eigen       1000         BTS / AdaBins / ZoeDepth / Marigold
kitti           1e-3         80       kitti-garg      256          BTS / AdaBins / ZoeDepth
kitti-marigold  1e-5         80       kitti-benchmark 256          Marigold (``kitti_bm_crop`` + ``eigen``)
                                      -eigen
eth3d           1e-5         inf      none            (required)   Marigold
diode           0.6          350      none            (.npy)       Marigold ("diode all"), + validity mask
diode-indoor    1e-3         10       none            (.npy)       ZoeDepth, + DIODE validity mask
diode-outdoor   1e-3         80       none            (.npy)       ZoeDepth, + DIODE validity mask
============== ============ ======== =============== ============ ==========================================

Crops (a rectangle of the ground truth that is evaluated; everything outside is ignored):

- ``nyu-eigen``: rows 45:471, columns 41:601 of the 480 x 640 NYUv2 frame (Eigen et al.; BTS, Marigold).
- ``kitti-garg``: rows ``int(0.40810811 H):int(0.99189189 H)``, columns ``int(0.03594771 W):int(0.96405229 W)``
  (Garg et al. ECCV 2016, as written in BTS and Marigold).
- ``kitti-eigen``: rows ``int(0.3324324 H):int(0.91351351 H)``, columns ``int(0.0359477 W):int(0.96405229 W)``
  (Eigen et al. NIPS 2014, as written in BTS and Marigold).
- ``kitti-benchmark``: the 352 x 1216 KITTI benchmark ("KB") window, rows ``H - 352:H``, columns
  ``(W - 1216) // 2`` onwards (BTS's ``do_kb_crop``, Marigold's ``kitti_bm_crop``).
- ``kitti-benchmark-eigen`` / ``kitti-benchmark-garg``: the KB window, then the Eigen / Garg fractions of
  the 352 x 1216 window (Marigold's KITTI evaluation: ``kitti_bm_crop: true``, ``valid_mask_crop: eigen``).

With a ``kitti-benchmark`` crop, ground truth of the full KITTI frame is cut to the window before
evaluation; a prediction may be of the full frame (cut the same way) or of the window itself, as a model
that was run on the KB-cropped image writes it (Marigold predicts on the cropped image).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from vb_plugins.errors import InputError

CROPS = ("none", "nyu-eigen", "kitti-garg", "kitti-eigen", "kitti-benchmark", "kitti-benchmark-eigen",
         "kitti-benchmark-garg")

# Fractions of (height, height, width, width) bounding the evaluated rectangle.
_KITTI_CROPS = {
    "kitti-garg": (0.40810811, 0.99189189, 0.03594771, 0.96405229),
    "kitti-eigen": (0.3324324, 0.91351351, 0.0359477, 0.96405229),
}
KITTI_BENCHMARK_SIZE = (352, 1216)  # height, width of the KB crop
# KB-window crops -> the fraction crop applied inside the window (None: the whole window).
_BENCHMARK_CROPS = {"kitti-benchmark": None, "kitti-benchmark-eigen": "kitti-eigen",
                    "kitti-benchmark-garg": "kitti-garg"}


def crop_window(crop: str | None, shape: tuple[int, int]) -> tuple[slice, slice] | None:
    """Rows and columns of the 352 x 1216 KITTI benchmark window for ``kitti-benchmark*`` crops (top =
    H - 352, left = (W - 1216) // 2, as BTS and Marigold cut it); None for every other crop."""
    if crop not in _BENCHMARK_CROPS:
        return None
    height, width = shape
    window_height, window_width = KITTI_BENCHMARK_SIZE
    if height < window_height or width < window_width:
        raise InputError(f"crop {crop!r} cuts the {window_height} x {window_width} KITTI benchmark window: ground "
                         f"truth is only {height} x {width} (pass --crop none, or evaluate KITTI frames)")
    top, left = height - window_height, (width - window_width) // 2
    return slice(top, top + window_height), slice(left, left + window_width)

DIODE_MASK_PATTERNS = ("{stem}_depth_mask.npy",)
DEFAULT_MASK_PATTERNS = ("{stem}.mask.png", "{stem}.mask.npy", "{stem}_mask.png", "{stem}_mask.npy")


def crop_mask(crop: str | None, shape: tuple[int, int]) -> np.ndarray | None:
    """Boolean H x W mask of the evaluated rectangle for ``crop`` (None for no crop)."""
    if crop in (None, "none"):
        return None
    height, width = shape
    mask = np.zeros((height, width), dtype=bool)
    if crop == "nyu-eigen":
        if (height, width) != (480, 640):
            raise InputError(f"crop 'nyu-eigen' is defined on 480 x 640 ground truth, got {height} x {width} "
                             "(pass --crop none, or evaluate at the NYUv2 resolution)")
        mask[45:471, 41:601] = True
        return mask
    if crop in _KITTI_CROPS:
        top, bottom, left, right = _KITTI_CROPS[crop]
        mask[int(top * height):int(bottom * height), int(left * width):int(right * width)] = True
        return mask
    if crop in _BENCHMARK_CROPS:
        window = crop_window(crop, shape)
        inner = crop_mask(_BENCHMARK_CROPS[crop], KITTI_BENCHMARK_SIZE)
        mask[window] = True if inner is None else inner
        return mask
    raise InputError(f"crop {crop!r}: expected one of {', '.join(CROPS)}")


@dataclass(frozen=True)
class DepthProtocol:
    """Where depth is evaluated: the valid ground-truth range (metres, strict), a crop, and file layout hints.

    ``depth_scale``: 16-bit ground-truth PNGs hold ``metres * depth_scale`` (0 = no measurement).
    ``mask_required``: the dataset ships a validity mask per image (DIODE) and evaluation needs it.
    """

    name: str
    min_depth: float = 1e-3
    max_depth: float = math.inf
    crop: str = "none"
    depth_scale: float | None = None
    mask_required: bool = False
    gt_patterns: tuple[str, ...] = ()
    mask_patterns: tuple[str, ...] = DEFAULT_MASK_PATTERNS
    source: str = ""

    def __post_init__(self):
        if not (self.min_depth >= 0 and self.max_depth > self.min_depth):
            raise InputError(f"depth range {self.min_depth}..{self.max_depth}: need 0 <= min < max")
        if self.crop not in CROPS:
            raise InputError(f"crop {self.crop!r}: expected one of {', '.join(CROPS)}")
        if self.depth_scale is not None and not self.depth_scale > 0:
            raise InputError(f"depth scale {self.depth_scale}: must be positive")

    def valid_mask(self, gt: np.ndarray) -> np.ndarray:
        """Ground-truth pixels inside the protocol's range and crop."""
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(gt) & (gt > self.min_depth) & (gt < self.max_depth)
        crop = crop_mask(self.crop, gt.shape)
        return valid if crop is None else valid & crop

    def cut_to_window(self, gt: np.ndarray, pred=None, mask=None):
        """``(gt, pred, mask)`` cut to the crop's window (``kitti-benchmark*`` crops); a prediction or mask
        already of the window's size stays as it is. Other crops: returned unchanged."""
        window = crop_window(self.crop, gt.shape[:2])
        if window is None:
            return gt, pred, mask

        def cut(array):
            return array if array is None or array.shape[:2] != gt.shape[:2] else array[window]
        return gt[window], cut(pred), cut(mask)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["max_depth"] = None if math.isinf(self.max_depth) else self.max_depth
        data["gt_patterns"] = list(self.gt_patterns)
        data["mask_patterns"] = list(self.mask_patterns)
        return data


DEPTH_PRESETS: dict[str, DepthProtocol] = {
    "none": DepthProtocol("none", 1e-3, math.inf, source="no dataset protocol: finite ground truth above 1 mm"),
    "nyu": DepthProtocol("nyu", 1e-3, 10.0, "nyu-eigen", depth_scale=1000.0,
                         source="NYUv2 as BTS/AdaBins/ZoeDepth/Marigold: 1e-3..10 m, Eigen crop"),
    "kitti": DepthProtocol("kitti", 1e-3, 80.0, "kitti-garg", depth_scale=256.0,
                           source="KITTI as BTS/AdaBins/ZoeDepth: 1e-3..80 m, Garg crop"),
    "kitti-marigold": DepthProtocol("kitti-marigold", 1e-5, 80.0, "kitti-benchmark-eigen", depth_scale=256.0,
                                    source="KITTI as Marigold: 352 x 1216 benchmark crop, Eigen crop inside it, "
                                           "1e-5..80 m"),
    "eth3d": DepthProtocol("eth3d", 1e-5, math.inf, source="ETH3D as Marigold: depth above 1e-5 m, no cap"),
    "diode": DepthProtocol("diode", 0.6, 350.0, mask_required=True, gt_patterns=("{stem}_depth.npy",),
                           mask_patterns=DIODE_MASK_PATTERNS,
                           source="DIODE as Marigold: 0.6..350 m and the dataset's validity mask"),
    "diode-indoor": DepthProtocol("diode-indoor", 1e-3, 10.0, mask_required=True,
                                  gt_patterns=("{stem}_depth.npy",), mask_patterns=DIODE_MASK_PATTERNS,
                                  source="DIODE indoor as ZoeDepth: 1e-3..10 m and the validity mask"),
    "diode-outdoor": DepthProtocol("diode-outdoor", 1e-3, 80.0, mask_required=True,
                                   gt_patterns=("{stem}_depth.npy",), mask_patterns=DIODE_MASK_PATTERNS,
                                   source="DIODE outdoor as ZoeDepth: 1e-3..80 m and the validity mask"),
}


def depth_protocol(name: str | DepthProtocol = "none", **overrides) -> DepthProtocol:
    """A depth preset by name, with fields overridden (``min_depth=..., crop=...``; None leaves a field)."""
    if isinstance(name, DepthProtocol):
        base = name
    else:
        if name not in DEPTH_PRESETS:
            raise InputError(f"depth dataset {name!r}: expected one of {', '.join(DEPTH_PRESETS)}")
        base = DEPTH_PRESETS[name]
    changes = {k: v for k, v in overrides.items() if v is not None}
    if not changes:
        return base
    return replace(base, **changes)


# -- semantic -----------------------------------------------------------------------------------------

# Cityscapes' 19 evaluation classes in trainId order (cityscapesScripts labels.py) and their official colours.
CITYSCAPES_CLASSES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("road", (128, 64, 128)), ("sidewalk", (244, 35, 232)), ("building", (70, 70, 70)),
    ("wall", (102, 102, 156)), ("fence", (190, 153, 153)), ("pole", (153, 153, 153)),
    ("traffic light", (250, 170, 30)), ("traffic sign", (220, 220, 0)), ("vegetation", (107, 142, 35)),
    ("terrain", (152, 251, 152)), ("sky", (70, 130, 180)), ("person", (220, 20, 60)), ("rider", (255, 0, 0)),
    ("car", (0, 0, 142)), ("truck", (0, 0, 70)), ("bus", (0, 60, 100)), ("train", (0, 80, 100)),
    ("motorcycle", (0, 0, 230)), ("bicycle", (119, 11, 32)),
)


@dataclass(frozen=True)
class SemanticProtocol:
    """Label-map conventions of a semantic dataset.

    Ground-truth label PNGs hold ``gt_first_label + i`` for class ``i`` and ``ignore_index`` where no class
    counts. ``strip_suffixes`` are removed from prediction stems before the ground truth is looked up
    (Cityscapes images end in ``_leftImg8bit``, their labels in ``_gtFine_labelTrainIds``).
    """

    name: str
    classes: tuple[str, ...] = ()
    ignore_index: int | None = 255
    gt_first_label: int = 0
    gt_patterns: tuple[str, ...] = ()
    strip_suffixes: tuple[str, ...] = ()
    source: str = ""
    colours: tuple[tuple[int, int, int], ...] = field(default=(), repr=False)

    def to_dict(self) -> dict:
        return {"name": self.name, "classes": list(self.classes), "ignore_index": self.ignore_index,
                "gt_first_label": self.gt_first_label, "gt_patterns": list(self.gt_patterns),
                "strip_suffixes": list(self.strip_suffixes), "source": self.source}


SEMANTIC_PRESETS: dict[str, SemanticProtocol] = {
    "none": SemanticProtocol("none", source="classes from --classes or the prediction records"),
    "cityscapes": SemanticProtocol(
        "cityscapes", tuple(name for name, _ in CITYSCAPES_CLASSES), 255, 0,
        gt_patterns=("{stem}_gtFine_labelTrainIds.png",), strip_suffixes=("_leftImg8bit",),
        source="Cityscapes val: 19 trainId classes, 255 ignored, confusion matrix over the split",
        colours=tuple(colour for _, colour in CITYSCAPES_CLASSES)),
}

DATASETS_BY_TASK = {
    "depth": tuple(DEPTH_PRESETS),
    "normals": ("none",),
    "semantic": tuple(SEMANTIC_PRESETS),
    "referring": ("none",),
    "instance": ("none",),
}
