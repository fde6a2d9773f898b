"""Perfect Ordering Approximation and Cascading Sum Augmentation (seed 004, a thesis in two chapters).

This package is the paper's spec, both chapters in one Paper: chapter 2 (perfect ordering) is
chapter2_settings, chapter2_targets and chapter2_claims; chapter 3 (cascading sum augmentation: tables
3.0-3.6, figures 3.3-3.7, its numbers and claims) is chapter3_settings, chapter3_tables,
chapter3_figures and chapter3_claims; reported holds the numbers both chapters printed and cases the
numbers their claims are tried on.

Chapter 2, perfect ordering: does the order of the batches matter, and can a model pick a good one?

- table2_1, figure2_1, figure2_2: the brute-force experiment (§2.2). 24 zeros and 24 ones of MNIST
  for training, 2,048 test images of 0 and 1, batch 8 (6 batches, one split for every epoch), one
  small convolutional network from one initialisation; epoch 1 trains all 6! = 720 batch orders,
  after each epoch KMeans on the runs' test losses keeps 12 runs (the run nearest each centre),
  each of which continues with all 720 orders of the next epoch; 13 epochs. Every ordering is a
  model of its own, trained side by side with the others (robustrepro.training.perfect_ordering).
  table2_1: min, mean and max test accuracy and min and max test loss over the runs of each epoch,
  beside the seed's; figure2_1: the distributions of test loss after epochs 1, 2, 5 and 6;
  figure2_2: of test accuracy after epochs 12 and 13.
- table2_2/figure2_3: the loss orderer (§2.4.1): every step, K candidate batches are scored by
  their loss under the current model and the lowest-loss one is trained on, K in {8, 16, 32, 64},
  against the baseline (random batches). table2_3/figure2_4: the maximum-loss-delta orderer
  (§2.4.2), each candidate tried for one update and scored by the drop of the loss on the same
  batch, the model and momentum rolled back after each trial, K in {8, 16, 32}; table2_4/
  figure2_5: the same scored on a static external batch of 512 test images drawn each epoch.
  PreAct ResNet-56 on CIFAR-10, SGD lr 0.05, Nesterov momentum 0.9, weight decay 1e-4, batch 128,
  pad-4 crops and flips, lr halved every 30 epochs, one seed for every run (same initialisation,
  same initial shuffle). Tables: test accuracy after epochs 1-10, beside the seed's; figures:
  train and test accuracy per epoch. The samplers are robustrepro.training.methods.ordering.

Where this harness reads the seed differently or fills a gap, and why:
- The brute-force experiment's network and optimizer are not given ("a small convolutional
  network"; Cosmin Pascaru's thesis, which has them, is not available). The experiment evaluates
  104,400 trained models on 2,048 images, so the network is small (`tinyconv`, about 430 weights
  before its head) with MNIST's usual 10-way output layer (model.outputs 10), trained and tested on
  the zeros and ones alone, and plain SGD (no momentum, no weight decay) at lr 0.09. Both were
  chosen by measurement on epoch 1 of the real MNIST view, at the seed the built run uses (0; the
  experiment runs once), against table 2.1's epoch 1 (min / mean / max accuracy 67.1 / 77.6 /
  90.3 %: a spread of 23.2 points between orders). Spread (points) after epoch 1, seeds 0 / 1 / 2 / 3:
    2-way head: lr 0.05: 4.7 / 8.4 / 4.7 / 0.0; lr 0.07: 5.7 / 18.1 / 8.5 / 1.0; lr 0.1: 6.2 / 9.2 /
      12.3 / 11.0; lr 0.15: 8.9 / 4.5 / 13.9 / 19.6;
    10-way head: lr 0.05: 10.3 / 11.9 / 0.4 / 3.8; lr 0.07: 9.9 / 20.8 / 5.9 / 0.7; lr 0.08: 8.8 /
      20.4 / 13.8 / 0.6; lr 0.09: 28.1 / 19.4 / 25.8 / 1.8; lr 0.1: 43.9 / 19.0 / 35.7 / 3.6.
  The 2-way head (this harness's earlier reading) never spreads seed 0's orders by more than 9
  points; the 10-way head at lr 0.09 spreads them by 28.1 (min 66.4 %, the seed's 67.1), and the
  full run keeps every accuracy from epoch 6 on within a point of the table (docs/papers/ordering-augment.md). What it
  does not match: the mean after epoch 1 sits near the best (91.3 against 94.4 %) where the seed's
  sits midway (77.6), so the best order leads the mean by 3.1 points, not 12.7; and the loss falls
  faster than the seed's (below).
- Table 2.1's losses (2.39-2.45 at 78 % accuracy on a two-class problem, 0.13 at 99 %) read as the
  sum over the four 512-image test batches of each batch's mean cross-entropy, i.e. 4x the mean:
  after epoch 13 the run's 4x losses are 0.119-0.149 against the table's 0.126-0.269, where plain
  means (0.030-0.037) are four times too small; after epoch 1 neither reading fits the 10-way head
  (4x 3.50-3.83, mean 0.88-0.96), and the 2-way head's 4x losses (2.36-2.38) fitted epoch 1 better.
  The runs report the loss in the 4x unit (test_loss; test_loss_mean is the mean), so the
  comparison sets like against like.
- The brute-force experiment is run once (max_seeds 1), as in the seed; it is 10 to 25 minutes on
  a 2-core CPU (docs/papers/ordering-augment.md), and quick scale is the paper's setting.
- Candidates (§2.4): "the data loader randomly selects learning items to consider" from the batches
  not yet trained on in the epoch, so every example is still seen once an epoch and an epoch has the
  baseline's number of steps. Scores are taken in eval mode (no augmentation, batch norm with its
  running statistics).
- The external batch of the MLD orderer is drawn from the test set, as the seed says; the test
  accuracy of those runs is then measured partly on images that steered training (512 of 10,000).
- Epochs: the tables print epochs 1-10 and the seed's shortest MLD run (K=32) had 12; every run of
  the CIFAR groups trains 12 epochs at paper scale (the lr halving at 30 never happens). The seed's
  longer runs (24 and 48 epochs for MLD K=16 and 8) and its one-epoch K=391 runs (0.4715, 0.4831,
  eleven hours each) are not repeated.
- Transcription: table 2.2's last column is headed "NA K=64" (read as MA K=64); the baseline's
  epochs 7 and 9 both print 0.6926 in all three tables. Carried as printed.
- The loss sampler (§2.4.1: "indistinguishably similar" to the orderer, not shown) and the
  descending loss order (§2.4.1: "incapable of learning anything") are run beside table 2.2's at
  K=8, drawn in figure2_3 and tabled without reported numbers.
- §2.2's finding lost its numbers: "the maximum accuracy after n epochs is greater than the minimum
  accuracy after n + k epochs, with k = [lost] in the most extreme case". Read as: for some epoch n
  the best ordering beats the worst one of epoch n + k with k >= MIN_LAG = 2 (the best of an epoch
  beating the worst of the same or the next epoch is what any spread gives; two epochs ahead is the
  finding's point, "it is just as likely to obtain [...] the worst performance possible, as well as
  the best one"); the check reports the largest such k. Table 2.1's own is k = 6 (98.0 % after epoch
  5 above 97.9 % after epoch 11, and 98.5 % after 7 above 98.4 % after 13).
- §2.4.1's "it increased the training accuracy while not affect testing": read on the mean over
  epochs 1-10 of each K's accuracy minus the baseline's, above NO_EFFECT = 1 point for training and
  within ±1 point for test (table 2.2's test gaps are 0.0 to -0.6; the MLD orderers', 1.4 to 3.1,
  would count as an effect). The training accuracy is history.csv's train_acc: the accuracy on the
  batches trained on, during the epoch, with augmentation; for an orderer that picks the
  lowest-loss batch that selection alone raises it, which may be what the seed's curves showed too.
- §2.4.2's "this variation outperforms the other one for all values of K for the majority of epochs":
  on the seed's own tables 2.3/2.4 the external batch beats the same batch in 7, 5 and 5 of epochs
  1-10 for K = 8, 16, 32, so "a majority for every K" fails on the seed's numbers. Read as: a strict
  majority of all (K, epoch) pairs (17 of 30) and at least half the epochs of every K.

The claims: the spread of accuracy (max - min over the runs of an epoch) is smaller after the last
epoch than after the first; the best ordering's accuracy after epoch 1 exceeds the mean by at least
CLEAR_MARGIN points (the seed: 90.3 vs 77.6); the best ordering after some epoch n beats the worst
after epoch n + k, k >= 2; each orderer family beats the baseline after epoch 1 at every K; the loss
orderer raises the training accuracy and leaves the test accuracy within a point of the baseline's;
the static external batch beats the same batch in most epochs; the baseline fluctuates more than
every orderer run, by the sum of its drops in test accuracy from one epoch to the next over epochs
1-10 (the seed's numbers: 16.4 points for the baseline, at most 10.9 for an orderer); and the
descending loss order does not learn: its final test accuracy stays within 10 points of chance.

Scales: quick runs the brute force as the paper (real MNIST, CPU) and the CIFAR comparisons on
10,000 training and 2,000 test images, PreAct ResNet-56 at half width, 10 epochs (its page's runs
and estimates); smoke runs every group on synthetic data: 16 training images in 4 batches (24 orderings,
3 kept, 13 epochs) and a one-block-per-stage preact ResNet on 256 images for 3 epochs.

Chapter 3, Cascading Sum Augmentation. The training parts
are robustrepro.training.methods.augment (the steps sum_augment, gradual_sum, mixup, sample_pairing
and the pure sum_images and cascade_coefficients), robustrepro.training.methods.cascade (run key
`cascade`) and the sum_augment defence of robustrepro.evaluation.defences (Test Time Sum
Augmentation).

- table3_1 / table3_2: cascading sum augmentation (§3.4) from k = 8, 4 or 2 sum groups down to the
  original data against the baseline, on CIFAR-10 subsets of 100, 500 and 5,000 images per class
  and CIFAR-100 subsets of 100 and 500, WRN-40-4 and WRN-28-10: test error (%).
- table3_4 / figure3_7: the gradual cascade (§3.5) on the whole CIFAR-10, its error, its model norm
  and training loss per epoch.
- table3_5 / table3_6: cascades that stop at k = 2 (8-4-2, 4-2, 2) on the whole CIFAR-10 and
  CIFAR-100, their best checkpoint tested normally and with Test Time Sum Augmentation (§3.6).
- table3_3: the baseline WRN-28-10 of the whole CIFAR-10 under FGSM, BIM, MI-FGSM and PGD, with and
  without Test Time Sum Augmentation (attacks with expectation over transformation on the
  randomised model), and its clean accuracy both ways.
- figure3_3: sum-augmented training images for k = 2, 4, 8 (sum_images, the step's own mixing);
  figure3_4: the gradually cascading coefficients against the granularity g; figure3_5: model norm
  per epoch of the cascades on the whole CIFAR-10; figure3_6: the error reduction over the baseline
  of cascading from k = 4, mixup and SamplePairing on the CIFAR-10 subsets with WRN-28-10.

Where this harness reads the seed differently or fills a gap, and why:
- The seed's batch size, learning rate, lr factor and weight decay were lost from its text ("a batch
  size of , and a learning rate of "). STANDARD_WRN takes the Wide ResNet paper's CIFAR values
  (Zagoruyko & Komodakis 2016: batch 128, lr 0.1, Nesterov momentum 0.9, weight decay 5e-4, lr
  x 0.2 per drop, no dropout) and the usual pad-4 crops and flips; table3_0 writes them out.
- "When the learning stagnates for 300 gradient update steps, the learning rate is reduced": the
  plateau schedule on the training loss with patience_steps 300 (evaluated per epoch, so at least
  one epoch: robustrepro.training.schedules).
- A cascade's plateau (cascade.patience, in epochs without a new best test accuracy) is unstated;
  here it spans the same 300 steps, and at least MIN_PATIENCE epochs, so the small subsets (8 steps
  an epoch) are not cut after a few dozen steps. Each run gets an epoch budget of at least
  MIN_EPOCHS and EPOCHS_PER_PATIENCE patiences (budget()); a cascade that has not finished by then
  ends there (its reported epoch is still its last phase's best).
- The baseline is the same run with k = 1: one phase on the original data that ends when it
  plateaus, the seed's "run where k = 1". Every cascade reports the best epoch of its last phase,
  the seed's "best checkpoint"; mixup, SamplePairing and the gradual cascade report their best
  epoch over a fixed budget (early_stopping with a patience as long as the run, which never stops
  it): all of them are read at their best test accuracy, as the seed kept "a checkpoint for every
  new best test accuracy".
- The gradual cascade spends GRADUAL_SHARE of its epochs going from k groups to none and the rest
  fine-tuning on the original data (the seed's fine-tuning length is lost).
- Mixup: alpha = 1 (Zhang et al. on CIFAR-10). SamplePairing: on from the first epoch, 8 epochs on
  and 2 off, for PAIRING_SHARE of the run, then fine-tuning on the original data (Inoue's
  schedule, whose plain warm-up of 100 epochs is left out: the small subsets overfit long before).
- Test Time Sum Augmentation: each copy is the mean of the input and one random test image (k = 2,
  weight 1: "we will only be considering [the weight] such that the resulting linear interpolation
  will effectively average the inputs"), TTA_SAMPLES copies per image; the seed's n was lost (below).
- table3_3 (§3.7.3: "applying Test Time Sum Augmentation over the baseline WideResNet(28,10)"): the
  seed prints the row once as "CSA" and once as "Sum-Aug"; the text says it is the baseline model
  under test-time sum augmentation, which this builds. The attack settings are unstated beyond
  the attacks' names: eps 8/255 and the usual steps of each attack's paper (ATTACKS; PGD without a
  random start, below), on ATTACK_SUBSET class-balanced test images, with EOT_SAMPLES gradient
  samples against the randomised model.
- Errors: every number of tables 3.1-3.6 is a test error rate; the comparison reproduces it as
  100 - test accuracy (Reported.error). Figure 3.6's reductions are (baseline error - error) /
  baseline error, as the seed's 30.15 % (= (43.47 - 30.36) / 43.47) shows.
- "Cascading gains most at the smallest subset" is read in points of error (the seed's relative
  reductions for WRN-28-10 are 32.5, 35.8 and 33.5 %: not largest at the smallest).
- The method against its comparator (§3.7.1: "this Cascading Sum Augmentation method outperforms
  training with only two groups (k=2) and fine-tuning using the original data [...] in all the cases
  we tested, by a significant margin"): the cascade from k = 2 is that comparator, so the method is
  the cascade from k = 8 or 4, the better of the two in each cell (the seed's k = 8 is behind k = 2 in
  4 of its 10 cells, k = 4 ahead in all 10). "A significant margin" is read as a mean lead of at
  least SIGNIFICANT_MARGIN = 0.5 points of error over the cells (the seed's: 0.08 to 1.79, mean 1.0;
  it ran one seed, so no test over seeds). The gain-at-the-smallest-subset claim reads the same
  cascades (8 or 4); every-cascade-beats-the-baseline keeps k = 2 among them, as tables 3.1/3.2 do.
- "Higher values for k leads to a lower norm of the final model" (figure 3.5): the model_norm
  column (robustrepro.training.metrics, the L2 norm of the trainable parameters) of each run's
  reported epoch, the best checkpoint the seed keeps, on the largest CIFAR-10 subset, falling at
  every doubling of k from the baseline's k = 1 to 8.
- §3.4's 49.05 % ("a WideResNet(28,10) model trained on the full CIFAR-10 dataset, but only with
  sum augmentation where k = 8 reached convergence"): group sum8-cifar10, a cascade that ends at
  k = 8 (cascade.until 8), i.e. the 8-4-2-1 cascade's first phase alone, stopped by the same plateau
  and read at its best epoch, on the clean test set; Reported under figure3_3 (the seed: "trained
  only on images like the ones seen in Figure 3.3"). Smoke trains k = 2 alone instead, which is
  tta-cifar10's run (no new run); "way above random chance" is read as CHANCE_TIMES = 3 times chance.
- Test Time Sum Augmentation averages the copies' softmax probabilities (defence average
  "probabilities", a soft vote) where the authors' code averages their logits: the text's step 3
  takes "the mean of all predictions" and §3.6 "the average vote over all augmented images", and a
  prediction or a vote is a class distribution, not a logit. The logits reading was measured once,
  at smoke scale on the smoke build's runs (same draws): clean TTA accuracy 10.2 % both ways on 128
  images, and under FGSM / BIM / MI-FGSM / PGD 0.0 / 9.4 / 9.4 / 3.1 % both ways on 32; the smoke
  models sit at chance, so this shows the option runs, not which reading the seed's numbers need
  (the CIFAR quick scale would; `defence: {average: logits}` in the evaluations of tta-cifar10 and
  attacked-cifar10 gives it).
- Its partner images come from the test set (the evaluated split), as the text's step 1 says ("a
  new random image from the test dataset"); the authors' code draws them from the training set, but
  where the text states it, the text is followed (and the evaluation's pool is its split). Its
  copies: 64 per image (TTA_SAMPLES), as in the authors' code (the text's n is lost; 8 times the
  evaluations' forward passes, a fraction of a training run); TTA_BATCH = 32 images a batch keeps a
  forward at 2,048 copies. PGD starts from the clean image (no random start), as the authors' code
  does; the text names the attacks only.
- Figure 3.6's four reductions (30.15, 13.5, 33.54, 22.86 %) are compared in comparison.csv as
  relative error reductions over the baseline (k = 1) of the same subset and model, seed by seed
  (Reported.reduction; mixup's baseline is the CSA group's); figure3_6's CSV shows them beside the
  reductions of the mean errors.

Scales: quick keeps every table on the subsets of 100 and 500 images per class (the "whole" sets of
tables 3.4-3.6 become 500 per class), WRN-40-1 and WRN-28-2.5 (a quarter of the width), 2,000 test
images and a quarter of the epoch budgets; smoke runs one tiny WRN on 256 synthetic images, at most 6
epochs, a cascade 4-2-1 beside the baseline and k = 2 for the tables that stop there (and for
sum8-cifar10): 9 runs.
"""

from __future__ import annotations

from robustrepro.papers.ordering_augment import (chapter2_claims, chapter2_settings, chapter2_targets, chapter3_claims,
                                                 chapter3_figures, chapter3_settings, chapter3_tables, reported)
from robustrepro.papers.spec import Paper

CHAPTER2_TARGETS = tuple(chapter2_targets.TARGETS)
# In the thesis's reading order, as the index and the report list them (table3_0, this harness's, last).
CHAPTER3_ORDER = ("table3_1", "table3_2", "figure3_3", "figure3_4", "figure3_5", "figure3_6", "table3_3", "table3_4",
                  "figure3_7", "table3_5", "table3_6", "table3_0")
CHAPTER3_TARGETS = tuple(sorted((*chapter3_tables.TARGETS, *chapter3_figures.TARGETS),
                                key=lambda t: CHAPTER3_ORDER.index(t.name)))

PAPER = Paper(
    slug="ordering-augment",
    seed_file="004_34a48cf8b8a0c413.txt",
    title="Perfect Ordering Approximation and Cascading Sum Augmentation",
    groups=chapter2_settings.GROUPS + chapter3_settings.GROUPS,
    targets=CHAPTER2_TARGETS + CHAPTER3_TARGETS,
    reported=reported.REPORTED,
    claims=chapter2_claims.CLAIMS + chapter3_claims.CLAIMS,
)
