"""An Empirical Study of Robust Deep Models (seed 000): clustering-based subsampling.

Faster training (6.1): offline set cover of radius balls on pretrained features or last-layer
gradients, one random member of each cluster per epoch weighted by cluster size (Tables 1-3,
Figure 1); online facility location on softmax-layer gradients p - y, re-selected every epoch
after a 5-epoch warm-up (Table 4, Figure 2). ResNet-18, batch 32, SGD lr 0.1 decayed by 0.3 at
epochs 60, 90, 120 and 160 of 200. Robust training (6.2): ResNet-32 on CIFAR-10 with 20 % or
40 % of the labels flipped to another class, batch 128, momentum 0.9, weight decay 2e-4, lr 0.1
decayed to 0.01 and 0.001 at epochs 120 and 160; "FL only" selects 40 % once at the decay,
"Weighted only" weighs every point by its ball count from the decay on, "FL Weighted" does both
(Table 5, Figures 3-5). FashionMNIST repeats both (Tables 6-8, Figure 6).

Choices where the paper is silent or its numbers do not carry over, each stated where used:
- Radii. The paper's radii live in its own feature space; another model, subset or training
  length moves every distance. Each set cover here is instead asked for the paper's cluster
  count as a share of the points (Tables 1, 3 and 6 give it), and the radius realising it is
  found by bisection; tables show the paper's r beside the radius found.
- Ball counts (6.2) are counted among the points of the same training label, on unit-length
  penultimate features of the model at the decay epoch: a mislabelled point sits among another
  class's points and so has few. Radii there are in that unit space (at most 2 apart), so the
  paper's r = 2.0 does not carry over; Figure 4 sweeps radii of this space.
- Checkpoints (Table 3): "stable" is every 10th epoch from epoch 100, "all" every 10th from
  epoch 10; Table 2's Grad@FC uses the final model.
- Table 8 is garbled in the seed's text; it is read as columns (noise 0.2: Full 88.35, FL
  Weighted 89.47; noise 0.4: Full 89.26, FL Weighted 91.42).
- Smaller scales keep every ratio of the schedule (milestones, warm-up, decay epoch) and of the
  clustering (shares), on fewer examples and epochs; quick FashionMNIST trains LeNet (see settings.QUICK_FMNIST).

Where this harness reads the seed's text one way among others:
- 6.1 names only batch 32, SGD, lr 0.1 "decreasing by 0.3 at epoch 60, 90, 120, 160" and 200
  epochs. Its runs here borrow 6.2's momentum 0.9, weight decay 2e-4 and pad-4 crop and flip
  augmentation, which 6.1 does not state.
- "decreasing by 0.3" is read as multiplying the lr by 0.3 at each milestone (0.1, 0.03, 0.009,
  0.0027, 0.00081); subtracting 0.3 would make it negative, and "by 30 %" (times 0.7) is the other
  reading.
- 6.2's "initial learning rate of 0.1, then decay by 0.01 at the 120th epoch and again at the
  160th" is read as lr 0.1, then 0.01, then 0.001 (times 0.1 twice), not as multiplying by 0.01
  (0.001, then 1e-5).
- Table 5's caption says "Top-1 validation error", but its header says "Top1 Acc" and higher is
  better in the text; it is read as test accuracy (6.2 holds no validation split out).
- The robust radius is 0.5 in the unit feature space above, a choice of this harness, not the
  paper's r = 2.0 (unit vectors lie at most 2 apart, so every same-label point would fall in every
  ball and all points of a label would weigh alike); Figure 4 sweeps 0.2 to 0.65 around it.
- Figure 2's random baseline is given the facility-location run's warm-up (5 full-data epochs of
  200 at paper scale, settings.epochs(5, scale) below it) before its fixed random 40 % takes over. The paper
  does not say whether its baseline, "trained with a fixed ratio of data points sampled at the
  beginning of training", had one; without it the comparison would credit facility location
  with 5 epochs of extra updates. The claim's "FL leads early" window starts after the warm-up.

The package: settings (the run groups), reported (the paper's numbers), targets (tables and
figures), claims (the findings checked, with the cases of cases.py).
"""

from __future__ import annotations

from robustrepro.papers.spec import Paper
from robustrepro.papers.robust_clustering.claims import CLAIMS, COVERED_MARGIN, EIGHTY_GAP
from robustrepro.papers.robust_clustering.reported import (GRAD_ROWS, NO_CLUSTERING, REPORTED, T1_ACC, T4, T5, T6_ACC,
                                                           T7, T8)
from robustrepro.papers.robust_clustering.settings import (CIFAR, CIFAR_CLUSTERS, CKPT, EPOCHS, FMNIST,
                                                           FMNIST_CLUSTERS, GROUPS, NOISE, RADIUS, RATIO, SCHEMES,
                                                           SHARE, SPACE, checkpoints, share)
from robustrepro.papers.robust_clustering.targets import TARGETS

__all__ = ["PAPER", "GROUPS", "SCHEMES", "EPOCHS", "CIFAR", "FMNIST", "CIFAR_CLUSTERS", "FMNIST_CLUSTERS", "GRAD_ROWS",
           "NO_CLUSTERING", "T1_ACC", "T4", "T5", "T6_ACC", "T7", "T8", "SHARE", "SPACE", "CKPT", "RATIO", "RADIUS",
           "NOISE", "COVERED_MARGIN", "EIGHTY_GAP", "checkpoints", "share"]

PAPER = Paper(
    slug="robust-clustering",
    seed_file="000_9056e04c36fe5545.txt",
    title="An Empirical Study of Robust Deep Models",
    groups=GROUPS,
    targets=tuple(TARGETS),
    reported=REPORTED,
    claims=CLAIMS,
)
