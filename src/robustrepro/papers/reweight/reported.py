"""The numbers the seed printed (or quoted from the original), at the runs they compare with."""

from __future__ import annotations

from robustrepro.papers.reweight.settings import (BASELINE, CIFAR_BG_SEED, CIFAR_UF_ORIGINAL, CIFAR_UF_SEED,
                                                  IMBALANCE, MNIST_BG_VARIANTS, PROPORTION, REWEIGHTED, SEED_CODE,
                                                  STEP)
from robustrepro.papers.spec import Reported

REPORTED = (
    Reported("figure9", CIFAR_UF_ORIGINAL, {STEP: BASELINE}, "test_acc1", 67.97, method="baseline",
             note="original paper (Ren et al.), WRN-28-10, 1,000 clean: 67.97 ± 0.62; quoted in the seed"),
    Reported("figure9", CIFAR_UF_SEED, {STEP: BASELINE}, "test_acc1", 68.0, method="baseline",
             note="the seed's own baseline (batch 10, 60K iterations): 'the accuracy reaches 68%'"),
    Reported("figure5", CIFAR_BG_SEED, {STEP: BASELINE}, "test_acc1", 30.0, method="baseline", at=0.5,
             note="the seed: 'only 30% at 40K iterations' (of 80K), read off its curve"),
    Reported("figure5", CIFAR_BG_SEED, {STEP: REWEIGHTED}, "test_acc1", 50.0, method="reweighted", at=0.5,
             note="the seed: '50% for the reweighted model' at 40K iterations (its run stopped at 45K)"),
    Reported("figure7", MNIST_BG_VARIANTS.name, {STEP: SEED_CODE}, "test_acc1", 65.0,
             method="reweighted (the seed's notebook's update)",
             note="the seed: 'a stable loss of around 65%' at 50K iterations, read as test accuracy; its "
                  "notebook's update is the gated mean loss, the run compared here"),
    Reported("figure1", IMBALANCE, {PROPORTION: 0.995, STEP: REWEIGHTED}, "test_acc1", 90.0, method="reweighted",
             note="the seed, of the PyTorch reimplementation: 'over 90%' at 0.995 (a lower bound)"),
)
