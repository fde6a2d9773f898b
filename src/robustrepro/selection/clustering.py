"""Set cover at a given radius, or at the radius that gives a wanted number of clusters.

The paper fixes the radius (Tables 1 and 6), which is only meaningful in the paper's own
vector space: another architecture, subset or training length moves every distance. A share
(clusters / points) keeps what the radius controls, how much each epoch skips, comparable
across scales: the radius is then found by bisection, the cluster count of greedy set cover
falling (nearly always) as the radius grows. Both write the set cover and a JSON beside it.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import torch

from robustrepro.errors import UserError
from robustrepro.files import atomic_write_text
from robustrepro.selection.vectors import load_vectors, meta_path
from robustrepro.selection.neighbours import as_points
from robustrepro.selection.setcover import SetCover, save_set_cover, set_cover

log = logging.getLogger(__name__)
BISECTION_STEPS = 24
SAMPLE = 512  # points whose distances seed the search


def cover_at_share(points, share: float, device: str | torch.device = "cpu") -> SetCover:
    """Greedy set cover whose cluster count is the closest found to share * N (ties: the smaller radius)."""
    points = as_points(points)
    n = len(points)
    target = max(1, round(share * n))
    tried: dict[float, SetCover] = {}

    def cover(radius: float) -> SetCover:
        if radius not in tried:
            tried[radius] = set_cover(points, radius, device)
            log.info("radius %.6g: %d clusters (want %d)", radius, tried[radius].n_clusters, target)
        return tried[radius]

    # Grow from a small pairwise distance until the cover is coarse enough, then bisect: the
    # upper end stays as small as possible, which keeps the neighbourhoods (memory) small.
    sample = points[np.random.default_rng(0).choice(n, min(n, SAMPLE), replace=False)]
    gaps = np.sqrt(((sample[:, None, :] - sample[None, :, :]) ** 2).sum(-1))[np.triu_indices(len(sample), 1)]
    low, high = 0.0, float(np.quantile(gaps, 0.001)) if len(gaps) else 1.0
    high = max(high, 1e-6)
    while cover(high).n_clusters > target:
        low, high = high, high * 2
    if cover(low).n_clusters > target:
        for _ in range(BISECTION_STEPS):
            mid = (low + high) / 2
            if cover(mid).n_clusters == target:
                break
            low, high = (mid, high) if cover(mid).n_clusters > target else (low, mid)
    best = min(tried, key=lambda r: (abs(tried[r].n_clusters - target), r))
    return tried[best]


def cluster_file(vectors_path, out, radius: float | None = None, share: float | None = None,
                 device: str | torch.device = "cpu") -> SetCover:
    """Set cover of the vectors at `vectors_path`, saved at `out` with a JSON of how it was made."""
    if (radius is None) == (share is None):
        raise UserError("clustering.radius / clustering.share: give exactly one")
    vectors, meta = load_vectors(vectors_path)
    start = time.perf_counter()
    cover = set_cover(vectors, radius, device) if share is None else cover_at_share(vectors, share, device)
    seconds = time.perf_counter() - start
    save_set_cover(out, cover)
    info = {"vectors": str(vectors_path), "kind": meta.get("kind"), "checkpoints": meta.get("checkpoints"),
            "points": len(vectors), "radius": cover.radius, "clusters": cover.n_clusters,
            "share": cover.n_clusters / len(vectors), "asked": {"radius": radius} if share is None else {"share": share},
            "mean_ball": float(np.mean(cover.ball_counts)), "seconds": round(seconds, 3)}
    atomic_write_text(meta_path(out), json.dumps(info, indent=2) + "\n")
    log.info("set cover: %d points -> %d clusters at radius %.6g in %.1f s", len(vectors), cover.n_clusters,
             cover.radius, seconds)
    return cover
