"""Brownian-tree noise for the SDE samplers, reproducing torchsde's BrownianTree bit for bit.

k-diffusion's SDE samplers (DPM++ SDE, 2M SDE, 3M SDE) draw their noise as increments of one
Brownian path W over sigma, so the noise between two sigmas does not depend on which other
sigmas were queried: A1111 seeds one path per image with the image's seed.  The path is
torchsde 0.2.6's `BrownianTree` (a `BrownianInterval` with a dyadic "halfway" tree,
tol 1e-6, entropy pool of 24, no Levy area), rebuilt here from its definition:

- the root covers [t0, t1]; its increment is N(0, t1 - t0), drawn from a torch.Generator
  seeded by numpy's SeedSequence(entropy, pool_size=24);
- a node is split at its midpoint (times rounded to 6 decimals); the node's own seeds come
  from SeedSequence(entropy, spawn_key=(key, depth), pool_size=24), key = 2*parent + right;
- given a node's increment W over [s, e] with midpoint m, the left child's increment is the
  Brownian bridge sample (m-s)/(e-s) * W + sqrt((m-s)(e-m)/(e-s)) * N, N drawn with the
  node's first seed; the right child's is W minus the left's;
- a query [ta, tb] sums, left to right, the increments of the tree nodes that exactly
  tile it.
Only numpy (for SeedSequence) and torch are needed; torchsde is not a dependency.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import torch

_POOL_SIZE = 24
_NDIGITS = 6          # torchsde rounds times to -log10(tol) decimals, tol = 1e-6
_CACHE_SIZE = 45      # recently used increments kept (values never depend on it)


def _round(t: float) -> float:
    return round(t, _NDIGITS)


class _Node:
    __slots__ = ("start", "end", "parent", "is_left", "key", "depth", "mid", "w_seed", "left", "right")

    def __init__(self, start: float, end: float, parent: "_Node | None", is_left: bool):
        self.start, self.end = _round(start), _round(end)
        self.parent, self.is_left = parent, is_left
        if parent is None:
            self.key, self.depth = 0, 0
        else:
            self.key = 2 * parent.key + (0 if is_left else 1)
            self.depth = parent.depth + 1
        self.mid = None
        self.left = self.right = None

    def split(self, entropy: int) -> None:
        if self.mid is not None:
            return
        midway = 0.5 * (self.end + self.start)
        self.mid = _round(midway)
        seeds = np.random.SeedSequence(entropy=entropy, spawn_key=(self.key, self.depth),
                                       pool_size=_POOL_SIZE).generate_state(4)
        self.w_seed = int(seeds[0])
        self.left = _Node(self.start, midway, self, True)
        self.right = _Node(midway, self.end, self, False)


class BrownianTree:
    """One Brownian path W on [t0, t1] with fixed entropy; `tree(ta, tb)` = W(tb) - W(ta)."""

    def __init__(self, t0: float, t1: float, size, dtype: torch.dtype, device, entropy: int):
        t0, t1 = float(t0), float(t1)
        if not t0 <= t1:
            raise ValueError(f"t0={t0} must not exceed t1={t1}")
        self.size, self.dtype, self.device = tuple(size), dtype, torch.device(device)
        self.entropy = int(entropy)
        self.root = _Node(t0, t1, None, False)
        root_seeds = np.random.SeedSequence(entropy=self.entropy, pool_size=_POOL_SIZE).generate_state(3)
        self._root_w = self._randn(int(root_seeds[0])) * math.sqrt(t1 - t0)
        self._cache: OrderedDict[_Node, torch.Tensor] = OrderedDict()

    def _randn(self, seed: int) -> torch.Tensor:
        generator = torch.Generator(self.device).manual_seed(seed)
        return torch.randn(self.size, dtype=self.dtype, device=self.device, generator=generator)

    def _increment(self, node: _Node) -> torch.Tensor:
        if node.parent is None:
            return self._root_w
        cached = self._cache.get(node)
        if cached is not None:
            self._cache.move_to_end(node)
            return cached
        parent = node.parent
        w = self._increment(parent)
        h_reciprocal = 1 / (parent.end - parent.start)
        left_diff = parent.mid - parent.start
        right_diff = parent.end - parent.mid
        mean = left_diff * w * h_reciprocal
        var = left_diff * right_diff * h_reciprocal
        left_w = mean + math.sqrt(var) * self._randn(parent.w_seed)
        out = left_w if node.is_left else w - left_w
        self._cache[node] = out
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return out

    def _tiling(self, node: _Node, ta: float, tb: float, out: list) -> None:
        # iterative descent for the one-sided parts, recursion only where the query straddles
        while True:
            if ta == node.start and tb == node.end:
                out.append(node)
                return
            node.split(self.entropy)
            if node.mid in (node.start, node.end):
                raise ValueError("query times closer than the tree's 1e-6 resolution")
            if tb <= node.mid:
                node = node.left
            elif ta >= node.mid:
                node = node.right
            else:
                self._tiling(node.left, ta, node.mid, out)
                node, ta = node.right, node.mid

    def __call__(self, ta, tb) -> torch.Tensor:
        ta, tb = float(ta), float(tb)
        start, end = self.root.start, self.root.end
        # torchsde clamps out-of-range queries to the (rounded) ends, with a warning
        ta, tb = min(max(ta, start), end), min(max(tb, start), end)
        if ta > tb:
            raise ValueError(f"query times must satisfy ta <= tb, got {ta} > {tb}")
        if ta == tb:
            return torch.zeros(self.size, dtype=self.dtype, device=self.device)
        nodes: list[_Node] = []
        self._tiling(self.root, _round(ta), _round(tb), nodes)
        w = self._increment(nodes[0])
        for node in nodes[1:]:
            w = w + self._increment(node)
        return w


class BrownianTreeNoiseSampler:
    """k-diffusion's BrownianTreeNoiseSampler: unit noise for the step sigma -> sigma_next,
    W(sigma_next) - W(sigma) / sqrt|sigma_next - sigma|, from one tree per seed.

    `seed` an int: one tree for the whole batch; a list (A1111 passes the batch's image
    seeds): one tree per batch item, each shaped like one item.
    """

    def __init__(self, x: torch.Tensor, sigma_min, sigma_max, seed):
        t0, t1 = torch.as_tensor(sigma_min), torch.as_tensor(sigma_max)
        t0, t1, self.sign = (t0, t1, 1) if t0 < t1 else (t1, t0, -1)
        if isinstance(seed, (list, tuple)):
            if len(seed) != x.shape[0]:
                raise ValueError(f"{len(seed)} seeds for a batch of {x.shape[0]}")
            self.batched, seeds, size = True, list(seed), x.shape[1:]
        else:
            self.batched, seeds, size = False, [seed], x.shape
        self.trees = [BrownianTree(t0, t1, size, x.dtype, x.device, s) for s in seeds]

    def __call__(self, sigma, sigma_next) -> torch.Tensor:
        t0, t1 = torch.as_tensor(sigma), torch.as_tensor(sigma_next)
        lo, hi, sign = (t0, t1, 1) if t0 < t1 else (t1, t0, -1)
        w = torch.stack([tree(lo, hi) for tree in self.trees]) * (self.sign * sign)
        w = w if self.batched else w[0]
        return w / (t1 - t0).abs().sqrt()
