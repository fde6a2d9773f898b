"""Seeds derived from (run seed, epoch, purpose), so no random state is carried across epochs.

Every random draw of epoch e (sampling order, augmentation, dropout, mixing) comes from a
generator seeded by a hash of (seed, e, purpose). Resuming at an epoch boundary therefore
needs no RNG state: the resumed run draws exactly what the uninterrupted run would have.
"""

from __future__ import annotations

import hashlib

import torch


def derive_seed(seed: int, *parts) -> int:
    """A 63-bit seed that depends only on `seed` and `parts`, e.g. derive_seed(0, 3, "sampler")."""
    text = "/".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)
