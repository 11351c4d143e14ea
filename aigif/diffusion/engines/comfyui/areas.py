"""ComfyUI's area conditioning, as comfy.samplers computes it around the UNet
(ConditioningSetArea, ConditioningSetAreaPercentage, ConditioningSetAreaStrength).

An area is (height, width, y, x) in latent cells, or ("percentage", height, width, y, x) as
fractions of the latent.  What happens to it, in ComfyUI's order:
- when sampling starts (process_conds): percentage areas become cells against the latent's
  size (max(1, round(h * H)), max(1, round(w * W)), round(y * H), round(x * W));
- then every area entry on one side gets a twin on the other side with the same area and
  strength whose text comes from the smallest entry there that encloses the area (an entry
  without an area encloses everything; nothing is added when that entry has the very same
  area).  So an area prompt is weighed against the negative prompt on that area only;
- at each model call (get_area_and_mult) the area is clipped to the latent, x is cropped
  to it, and the entry's weight is `strength` there, feathered over rr = min(8, size // 4)
  cells at each edge that is not the latent's own edge (cell t of the ramp times (t+1)/rr);
- calc_cond_batch batches entries whose crops have the same shape, and adds each output
  times its weight into the side's sum and the weight into the side's count on the area only;
  the side's prediction is sum / count (with 1e-37 in the count everywhere).

Entries are graph.CondEntry values (frozen dataclasses with `area` and `strength`; every
other field is what ComfyUI calls the entry's model conds: the text, pooled output, sizes).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

import torch

from ....errors import InvalidSyntax

PERCENTAGE = "percentage"
FEATHER_CELLS = 8  # comfy.samplers.get_area_and_mult's `fuzz`


def resolve_area(area, dims: Sequence[int]):
    """A percentage area in cells of a latent of spatial size dims (H, W); cells unchanged."""
    if area is None or area[0] != PERCENTAGE:
        return area
    fractions = area[1:]
    half = len(fractions) // 2
    sizes = tuple(max(1, round(fractions[d] * dims[d])) for d in range(len(dims)))
    offsets = tuple(round(fractions[d + half] * dims[d]) for d in range(len(dims)))
    return sizes + offsets


def _inside(area, outer) -> bool:
    half = len(area) // 2
    for i in range(half):
        if area[half + i] < outer[half + i]:
            return False
    for i in range(half):
        if area[i] + area[half + i] > outer[i] + outer[half + i]:
            return False
    return True


def _add_same_area(entries: list, entry) -> None:
    """create_cond_with_same_area_if_none: give `entries` a twin of the area entry `entry`."""
    if entry.area is None:
        return
    smallest = None
    for other in entries:
        if other.area is not None:
            if _inside(entry.area, other.area):
                if smallest is None or smallest.area is None:
                    smallest = other
                elif math.prod(smallest.area[:len(smallest.area) // 2]) > math.prod(other.area[:len(other.area) // 2]):
                    smallest = other
        elif smallest is None:
            smallest = other
    if smallest is None or (smallest.area is not None and smallest.area == entry.area):
        return
    entries.append(replace(smallest, area=entry.area, strength=entry.strength))


def prepare_sides(positive: Sequence, negative: Sequence | None, dims: Sequence[int]):
    """process_conds' area steps for the guider's two sides (negative None: BasicGuider)."""
    sides = [[replace(e, area=resolve_area(e.area, dims)) if e.area is not None else e for e in side]
             if side is not None else None for side in (positive, negative)]
    for k, side in enumerate(sides):
        if side is None:
            continue
        for entry in side:  # the list may grow (k = 1 sees the twins k = 0 gave it)
            for kk, other in enumerate(sides):
                if kk != k and other is not None:
                    _add_same_area(other, entry)
    return sides[0], sides[1]


def area_and_mult(x: torch.Tensor, area, strength: float):
    """(x cropped to the area, the weight over the crop, the clipped area or None)."""
    if area is None:
        return x, torch.ones_like(x) * strength, None
    dims = x.ndim - 2
    area = list(area)
    crop = x
    for i in range(dims):
        area[i] = min(x.shape[i + 2] - area[dims + i], area[i])
        if area[i] <= 0:
            raise InvalidSyntax(f"a conditioning area {tuple(area)} lies outside the {list(x.shape[2:])} latent")
        crop = crop.narrow(i + 2, area[dims + i], area[i])
    mult = torch.ones_like(crop) * strength
    for i in range(dims):
        rr = min(FEATHER_CELLS, mult.shape[2 + i] // 4)
        if area[dims + i] != 0:
            for t in range(rr):
                mult.narrow(i + 2, t, 1).mul_((1.0 / rr) * (t + 1))
        if area[i] + area[dims + i] < x.shape[i + 2]:
            for t in range(rr):
                mult.narrow(i + 2, area[i] - 1 - t, 1).mul_((1.0 / rr) * (t + 1))
    return crop, mult, tuple(area)


def accumulate(out: torch.Tensor, count: torch.Tensor, output: torch.Tensor, mult: torch.Tensor, area) -> None:
    """Add one entry's weighted output into its side's sum and count (on its area only)."""
    if area is None:
        out += output * mult
        count += mult
        return
    dims = len(area) // 2
    for i in range(dims):
        out = out.narrow(i + 2, area[i + dims], area[i])
        count = count.narrow(i + 2, area[i + dims], area[i])
    out += output * mult
    count += mult
