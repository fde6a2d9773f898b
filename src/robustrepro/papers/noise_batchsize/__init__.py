"""Label noise, batch size and learning-rate schedulers (seed 002: Rajagopal et al., ETH research report).

A CIFAR-10 classifier (the CIFAR ResNet-18 of the seed's Figure 2) is trained with SGD with momentum
on cross-entropy plus L2 weight decay, under uniform label noise that may keep the original class
(noise kind uniform_incl, 0, 20 and 50 % of the training images relabelled), at several batch sizes,
with three schedulers: one-cycle (lr and momentum), cosine annealing (lr only) and a constant lr.
The settings are the seed's Table 1: maximum lr 0.1, 64 epochs, momentum 0.9 (overridden by the
one-cycle), 5,000 maximum scheduling steps, 20 % of the training set held out for validation,
weight decay 5e-4; everything else PyTorch 1.9.1's defaults.

- table1: the hyperparameters, the seed's beside those of this harness's runs, generated from the
  resolved run configs of every group at the scale built (the configs the run ids hash, so the runs
  trained with exactly these; the smoke test checks them against the runs' metrics.json).
- figure3: lr and momentum of the three schedulers over the optimizer steps, drawn from the schedule
  code itself (training.schedules.lr_curve) for the smallest, a middle and the largest batch size of
  the CIFAR grid (steps per epoch, and so where the 5,000 steps fall, depend on the batch size).
- figure4-6 (validation accuracy), figure7-9 (cosine similarity between the clean examples' and the
  whole batch's gradient), figure10-12 (per-batch training accuracy on the noisy examples): one
  figure per scheduler (one-cycle, cosine, constant), one panel per noise level, one curve per batch
  size, against wall time.
- figure13/figure14: configurations of batch size and lr, one-cycle and constant, validation
  accuracy against wall time, one panel per noise level.
- figure15-17: the appendix, VGG-16-BN on FashionMNIST with the one-cycle: validation accuracy,
  gradient cosine similarity, noisy-example accuracy.

Where the seed is silent or ambiguous, what this harness chose and why:
- Batch sizes. The seed's figures are lost from its text, and it names no batch size. The paper
  scale runs 32, 64, 128, 256, 512 and 1024 (powers of two around the usual 128, up to where an
  epoch of 40,000 images is only 40 steps), the same for the appendix.
- The lr of each batch size. Table 1 lists one maximum lr, 0.1, among the hyperparameters common to
  every run, so every batch size trains at 0.1 (no scaling rule); only figures 13 and 14 vary it.
- 5,000 maximum scheduling steps, taken literally: one-cycle and cosine plan over 5,000 optimizer
  steps and keep their last values after ("kept constant after the pre-defined maximum steps").
  With 40,000 training images that is 4 epochs of the 64 at batch 32 and 63 at batch 512,
  and batch 1024 never gets there (2,560 steps: its one-cycle ends at lr 0.08, mid-anneal). So the
  schedule's length in epochs grows with the batch size, and the small batches finish annealing
  early and then hardly move (one-cycle ends at 0.1 / 25 / 1e4 = 4e-7, cosine at 0): a form of
  early stopping that may carry part of the seed's finding. Reproduced as written, not corrected.
- One-cycle: torch 1.9.1's OneCycleLR defaults (pct_start 0.3, div_factor 25, final_div_factor
  1e4, cosine annealing, momentum cycled between 0.85 and 0.95) with max_lr the run's lr. Cosine:
  CosineAnnealingLR(T_max=5,000), eta_min 0, no restarts, lr only; cosine and constant keep the
  optimizer's momentum 0.9. SGD without Nesterov, dampening 0.
- Noise: X % of the training images get a label drawn uniformly from all 10 classes, so about a
  tenth keep theirs (the realised rate is about 0.9 X). "Noisy" examples are those whose label was
  changed, "clean" those whose label was not (the seed's own definitions, sections 4.2 and 4.3);
  the gradient cosine and the noisy-example accuracy use this mask.
- Validation: 20 % of the training set, stratified by class, held out before the noise is added,
  so its labels are clean (the seed does not say; noisy validation labels would measure how well
  the noise is fitted rather than generalisation). The test set is evaluated too, not plotted.
- No data augmentation: the seed names none, and takes PyTorch's defaults for the rest.
- "By time": the x axis is the wall-clock training time of steps.csv (time_s), mean over seeds at
  each logged step. Wall time depends on the machine (on a CPU every batch size processes about as
  many images per second; on a GPU large batches are much faster), so the claims compare runs over
  their whole course, never at equal wall time.
- Evaluation cadence: validation (and test) at the end of every epoch, 64 points a curve at paper
  scale (the step log's eval_steps is the epoch's length, so its evaluation is the epoch end's).
  The per-batch metrics are logged about as often per epoch at every batch size (`every` = steps
  per epoch / Budget.rows, rounded up: 4 rows an epoch at paper scale), so every batch size is
  sampled at about the same fractions of each epoch; the gradient cosine is measured on those rows
  (one extra backward pass each). Figures draw the per-batch metrics as a trailing mean over one
  epoch's rows; their CSVs also hold the raw means over seeds.
- Batch size to lr ratio. The seed says, after Jastrzebski et al., that "the ratio of the batch and
  learning rate should dictate the model's performance, with higher ratios leading to better
  generalization", and confirms it "for the configurations with either a constant learning rate or
  zero label noise" (section 4.4); its introduction repeats the direction ("the common belief that
  higher values of this ratio predict better generalization"). Jastrzebski et al. find the opposite
  direction: a higher lr / batch size (a lower batch / lr) gives wider minima and better
  generalisation, so the seed most likely turned the ratio over. The claims
  higher-ratio-better-constant and higher-ratio-better-onecycle-clean state the direction the seed
  states twice, a higher B/lr better, not that of the work it cites: a claim says what the paper
  says, and the seed never states the other. Each claim's evidence names the order found at each noise
  level: "higher B/lr better (the seed's direction)", "lower B/lr, i.e. higher lr/B, better
  (Jastrzebski et al.'s direction)", or "no order". A failure whose evidence reads Jastrzebski et
  al.'s direction at every level is the ratio rule holding the way its source found it, with the
  seed's wording reversed; one reading "no order" is the rule itself failing. "Dictates" is read as
  ordering: every configuration of a higher ratio above every configuration of a lower one.
- "For the two schedulers with 0% label noise, the higher the batch size is, the higher the
  validation accuracy" (section 4.1) is read literally, as for one-cycle and cosine only (the seed
  says nothing of the constant lr at 0 %): at 0 % noise each batch size run has a higher best
  validation accuracy than the next smaller one (a plateau or a dip anywhere breaks it), so the
  largest is best, which is what the next sentence's "no longer the largest one" under noise
  presupposes.
- Rolnick et al. under a constant lr. The seed: "they claim that increasing batch size mitigates
  the effect of label noise. However, our experiments show otherwise when a learning rate scheduler
  is used. Although, for the case of constant learning rates, the claim holds." The seed's evidence
  against it with schedulers is which batch size is best under noise ("the best batch size is no
  longer the largest one"), and "mitigates the effect of label noise" says the noise costs larger
  batches less. So larger-batch-mitigates-noise-constant asks both, at every noise level above 0 %:
  the largest batch size run is the best, and the accuracy the noise costs (best validation
  accuracy at 0 % minus at that level, same batch size) falls with the batch size (a negative
  Spearman correlation, and smaller at the largest batch than at the smallest). A best batch that
  merely does not shrink under noise (the same batch, e.g. 32, best at every level) is not larger
  batches mitigating anything, and neither is the largest batch best with the noise costing every
  batch size alike.
- figure13/14's configurations, (batch size, lr) with B/lr: (64, 0.05), (128, 0.1) and (256, 0.2)
  at 1,280, the same ratio over a 4x range of batch sizes (the rule's core: equal ratio, equal
  result), and (64, 0.1), (128, 0.2) at 640 and (128, 0.05), (256, 0.1) at 2,560 on either side.
  Every ratio has two or more configurations and batch sizes 64, 128 and 256 each appear at two or
  three ratios, so "the same batch size performs alike" (what the seed sees with one-cycle under
  noise) and "the same ratio performs alike" (the rule) can be told apart. Under the one-cycle the
  lr is its max_lr. The configurations at lr 0.1 are the main grid's runs, shared (trained once).
- The appendix (figure15-17) is VGG-16 with batch norm, CIFAR-style (13 convolutions, one linear
  head on the 512 pooled features, no dropout: torchvision's 4096-wide classifier has no CIFAR
  counterpart in the seed), on FashionMNIST at the same Table 1 settings, batch sizes and noise
  levels, one-cycle only. The seed says its appendix runs were neither all finished nor tuned.
- Seeds: the scale's default (paper 3, quick 2, smoke 1; config key seeds); the views (holdout,
  noise) are drawn once (data_seed 0) and shared by every seed and batch size.
- The seed prints no numbers, so the comparison carries none; its findings are the claims below.

The claims (statistics named in each statement): per run, the best validation accuracy over its
evaluations (the seed reads its curves for the best batch size and states no stopping rule; the
best over the run is the curve's peak, which the late flat part of a small batch's run does not
blur), mean over seeds; the noisy-example training accuracy averaged over the logged rows of the
last tenth of the run's steps (how far the run has fitted the noise by the end; single batches are
noisy, so rows are averaged); the gradient cosine averaged over all logged rows of the run (the
seed: "at a certain time step, the cosine similarity is generally lower with higher batch sizes";
rows sit at about the same fractions of every epoch, so the mean weighs the whole course of training
alike for every batch size, rather than one arbitrary time). "Larger batches higher (lower)" means
a positive (negative) Spearman correlation between batch size and the statistic across the batch
sizes run, and the largest batch above (below) the smallest.

Smaller scales keep every group, and keep the 5,000 steps at the same share of each run: total_steps
is scaled by (training images x epochs) against the paper's, so at every batch size the schedule
ends at the same fraction of the run as at paper scale. quick keeps the 64 epochs and shrinks the
training set, so the schedule ends in the same epoch as at paper scale at every batch size (a
quick scale with fewer epochs would leave batch 32 a fraction of an epoch of schedule); it plans
the CIFAR-10 groups for one GPU (12,800 training images of which 10,240 train, 5,000 test images,
ResNet-18 at half width, batch sizes 32, 128, 512, total_steps 1,280) and runs the FashionMNIST
appendix on a 2-core CPU (1,280 images of which 1,024 train, 500 test images, VGG-16-BN at width
1/16, batch sizes 32, 128, 512, total_steps 107). smoke trains 2 epochs of 400 synthetic images at
width 1/16, batch sizes 32 and 128, noise 0 and 50 %, and three batch size / lr configurations (two
of them the main grid's).

The package: settings.py (the groups as data: Table 1 per experiment and each scale's Budget),
targets.py (table1, figure3 and the step-log figures), logs.py (reading the step logs), claims.py
and cases.py (the claims and the numbers they are tried on).
"""

from __future__ import annotations

from robustrepro.papers.noise_batchsize.claims import (CLAIMS, best_val, late_mean, ratio_order, run_mean, spearman,
                                                       spread)
from robustrepro.papers.noise_batchsize.settings import (APPENDIX, BASE, BATCH, BATCH_SIZES, BUDGETS, CIFAR, CONSTANT,
                                                         COSINE, EPOCHS, EVAL_STEPS, EVERY, EXPERIMENTS, FMNIST,
                                                         GROUP_EXPERIMENT, GROUPS, LR, MAIN, MAX_LR, MOMENTUM,
                                                         NOISE_RATES, ONECYCLE, RATE, RATIO, RATIO_CONFIGS, SCHEDULERS,
                                                         SCHEDULER_NAMES, SMOKE, SMOKE_RATIO_CONFIGS, STEP_METRICS,
                                                         TOTAL_STEPS, TRAIN_SIZE, VAL_FRACTION, WEIGHT_DECAY, Budget,
                                                         n_train, steps_per_epoch, total_steps)
from robustrepro.papers.noise_batchsize.targets import (FIGURES, METRIC_LABELS, METRIC_SCALE, SEED_TABLE1,
                                                        TABLE1_COLUMNS, TARGETS, figure3, hyperparameters, table1)
from robustrepro.papers.spec import Paper

PAPER = Paper(
    slug="noise-batchsize",
    seed_file="002_44180c17f4ae5c17.txt",
    title="Label noise, batch size and learning-rate schedulers",
    groups=GROUPS,
    targets=tuple(TARGETS),
    reported=(),  # the seed prints no numbers (its figures are lost from the text): its findings are the claims
    claims=CLAIMS,
)

__all__ = [
    "APPENDIX", "BASE", "BATCH", "BATCH_SIZES", "BUDGETS", "CIFAR", "CLAIMS", "CONSTANT", "COSINE", "EPOCHS",
    "EVAL_STEPS", "EVERY", "EXPERIMENTS", "FIGURES", "FMNIST", "GROUP_EXPERIMENT", "GROUPS", "LR", "MAIN", "MAX_LR",
    "METRIC_LABELS", "METRIC_SCALE", "MOMENTUM", "NOISE_RATES", "ONECYCLE", "PAPER", "RATE", "RATIO", "RATIO_CONFIGS",
    "SCHEDULERS", "SCHEDULER_NAMES", "SEED_TABLE1", "SMOKE", "SMOKE_RATIO_CONFIGS", "STEP_METRICS", "TABLE1_COLUMNS",
    "TARGETS", "TOTAL_STEPS", "TRAIN_SIZE", "VAL_FRACTION", "WEIGHT_DECAY", "Budget", "best_val", "figure3",
    "hyperparameters", "late_mean", "n_train", "ratio_order", "run_mean", "spearman", "spread", "steps_per_epoch",
    "table1", "total_steps",
]
