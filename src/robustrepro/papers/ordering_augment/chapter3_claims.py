"""Chapter 3's claims, checked on the collected runs, with the numbers each must reject and accept."""

from __future__ import annotations

import pandas as pd

from robustrepro.analysis.stats import seed_mean
from robustrepro.papers.ordering_augment.cases import NORMS, ch3_results, two_groups_against_cascades
from robustrepro.papers.ordering_augment.chapter3_figures import reductions
from robustrepro.papers.ordering_augment.chapter3_settings import (ATTACKED, ATTACKS, BASELINE_K, CLASSES, CSA,
                                                                   GRADUAL, K, MODEL, STARTS, SUBSET, SUM_ONLY,
                                                                   TTA_GROUPS, k_label)
from robustrepro.papers.ordering_augment.chapter3_tables import mean_error
from robustrepro.papers.spec import Claim

CLEAN_COST = 2.0  # points of clean accuracy test-time sum augmentation may cost
TWO_GROUPS = 2  # "training with only two groups (k=2) and fine-tuning using the original data": the comparator
CSA_STARTS = tuple(k for k in STARTS if k > TWO_GROUPS)  # the method's starts in tables 3.1/3.2: 8 and 4
SIGNIFICANT_MARGIN = 0.5  # mean points of error by which the best CSA start beats k = 2 (the seed's: 1.0)
CHANCE_TIMES = 3  # "way above random chance": at least this many times chance (the seed's 49.05 %: 4.9 times)


def _cells(results: dict) -> list[tuple[str, pd.Series, pd.Series]]:
    """(label, baseline error by model+subset, cascade error by k+model+subset) per dataset present."""
    out = []
    for dataset, group in CSA.items():
        errors = mean_error(results[group], [K, MODEL, SUBSET])
        out.append((dataset, errors.xs(BASELINE_K, level=0), errors.drop(BASELINE_K, level=0)))
    return out


def cascade_beats_baseline(results) -> tuple[bool, str]:
    losing, count = [], 0
    for dataset, base, cascades in _cells(results):
        for (k, model, size), value in cascades.items():
            count += 1
            if not value < base.get((model, size), float("nan")):
                losing.append(f"{dataset} {model} {size // CLASSES[dataset]}/class k={k}: {value:.2f} % vs "
                              f"baseline {base.get((model, size), float('nan')):.2f} %")
    return not losing and count > 0, (f"{count} cascades against their baseline" +
                                      (f"; not lower: {'; '.join(losing)}" if losing else ", every one lower"))


def _csa_best(cascades: pd.Series) -> pd.Series:
    """The lowest error over the CSA starts (k > 2) per model and subset."""
    return cascades[cascades.index.get_level_values(0).isin(CSA_STARTS)].groupby(level=[1, 2]).min()


def gain_largest_at_smallest(results) -> tuple[bool, str]:
    wrong, parts = [], []
    for dataset, base, cascades in _cells(results):
        gain = (base - _csa_best(cascades)).dropna()
        for model, gains in gain.groupby(level=0):
            gains = gains.droplevel(0).sort_index()
            parts.append(f"{dataset} {model}: " + ", ".join(f"{s // CLASSES[dataset]}/class {g:.2f}"
                                                            for s, g in gains.items()))
            if len(gains) < 2 or not gains.iloc[0] > gains.iloc[1:].max():
                wrong.append(f"{dataset} {model}")
    return (not wrong and bool(parts),
            "points of error the best cascade from k = 8 or 4 gains over the baseline: " + "; ".join(parts)
            + (f"; not largest at the smallest subset (or one subset only): {', '.join(wrong)}" if wrong else ""))


def csa_beats_two_groups(results) -> tuple[bool, str]:
    margins: dict[str, float] = {}  # cell -> points of error by which the best CSA start beats k = 2
    for dataset, _, cascades in _cells(results):
        if TWO_GROUPS in cascades.index.get_level_values(0):
            best = _csa_best(cascades)
            for (model, size), two in cascades.xs(TWO_GROUPS, level=0).items():
                margins[f"{dataset} {model} {size // CLASSES[dataset]}/class"] = two - best.get((model, size),
                                                                                               float("nan"))
    losing = [cell for cell, margin in margins.items() if not margin > 0]
    mean = sum(margins.values()) / len(margins) if margins else float("nan")
    listing = "; ".join(f"{cell} {margin:+.2f}" for cell, margin in margins.items()) or "no cell has both"
    return (bool(margins) and not losing and bool(mean >= SIGNIFICANT_MARGIN),
            f"points of error by which the best cascade from k = {' or '.join(map(str, CSA_STARTS))} beats k = 2 "
            f"and fine-tuning: {listing}; mean {mean:.2f} (the claim needs every one above 0 and a mean of at least "
            f"{SIGNIFICANT_MARGIN:g})" + (f"; not ahead at {', '.join(losing)}" if losing else ""))


def norm_falls_with_k(results) -> tuple[bool, str]:
    runs = results[CSA["cifar10"]]
    runs = runs[runs[SUBSET] == runs[SUBSET].max()]
    norms = seed_mean(runs, [MODEL, K], "model_norm")
    parts, wrong = [], []
    for model, by_k in norms.groupby(level=0):
        by_k = by_k.droplevel(0).sort_index()
        parts.append(f"{model}: " + ", ".join(f"k={k} {v:.1f}" for k, v in by_k.items()))
        if len(by_k) < 2 or not (by_k.diff().dropna() < 0).all():
            wrong.append(model)
    return (not wrong and bool(parts), "final model norm by starting k on the largest CIFAR-10 subset: "
            + "; ".join(parts) + (f"; not falling with k: {', '.join(wrong)}" if wrong else ""))


def sum_only_above_chance(results) -> tuple[bool, str]:
    accuracy, chance = 100 * results[SUM_ONLY]["test_acc1"].mean(), 100 / CLASSES["cifar10"]
    return (bool(accuracy >= CHANCE_TIMES * chance),
            f"test accuracy {accuracy:.2f} % after training on sums of k images alone; chance {chance:g} % (the claim "
            f"needs {CHANCE_TIMES} times chance)")


def gradual_beats_cascading(results) -> tuple[bool, str]:
    gradual = mean_error(results[GRADUAL], [K, MODEL, SUBSET])
    csa = mean_error(results[CSA["cifar10"]], [K, MODEL, SUBSET])
    pairs = [(key, value, csa.get(key, float("nan"))) for key, value in gradual.items()]
    losing = [f"k={k} {model}: gradual {g:.2f} % vs cascade {c:.2f} %" for (k, model, _), g, c in pairs
              if not g < c]
    listing = "; ".join(f"k={k} {model} {g:.2f} vs {c:.2f}" for (k, model, _), g, c in pairs)
    return not losing and bool(pairs), f"test error, gradual vs cascading: {listing}" + (
        f"; not lower: {'; '.join(losing)}" if losing else "")


def tta_lowers_error(results) -> tuple[bool, str]:
    parts, losing = [], []
    for dataset, group in TTA_GROUPS.items():
        runs = results[group]
        normal = mean_error(runs, [K, MODEL])
        tta = mean_error(runs, [K, MODEL], "tta_acc1")
        for key, value in normal.items():
            parts.append(f"{dataset} {key[1]} {k_label(key[0], 2)}: {value:.2f} -> {tta[key]:.2f}")
            if not tta[key] < value:
                losing.append(parts[-1])
    return not losing and bool(parts), "test error, normal -> test-time sum augmentation: " + "; ".join(parts) + (
        f"; not lower: {'; '.join(losing)}" if losing else "")


def tta_resists_attacks(results) -> tuple[bool, str]:
    runs = results[ATTACKED]
    parts, losing = [], []
    for name, (label, _) in ATTACKS.items():
        plain, tta = 100 * runs[f"{name}_acc1"].mean(), 100 * runs[f"tta_{name}_acc1"].mean()
        parts.append(f"{label} {plain:.2f} -> {tta:.2f} %")
        if not tta > plain:
            losing.append(label)
    return not losing, "accuracy under attack without -> with test-time sum augmentation: " + ", ".join(parts) + (
        f"; not higher under {', '.join(losing)}" if losing else "")


def tta_clean_cost(results) -> tuple[bool, str]:
    runs = results[ATTACKED]
    plain, tta = 100 * runs["fgsm_clean_acc1"].mean(), 100 * runs["tta_fgsm_clean_acc1"].mean()
    cost = plain - tta
    return bool(cost < CLEAN_COST), (f"clean accuracy {plain:.2f} % without, {tta:.2f} % with test-time sum "
                                     f"augmentation: a cost of {cost:.2f} points (the claim allows under "
                                     f"{CLEAN_COST:g})")


def csa_beats_other_mixing(results) -> tuple[bool, str]:
    data = reductions(results)
    table = data.pivot(index="per_class", columns="method", values="reduction")
    losing = [f"{size}/class" for size, row in table.iterrows()
              if not row.get("CSA k=4", float("nan")) > row.drop("CSA k=4", errors="ignore").max()]
    listing = "; ".join(f"{size}/class " + ", ".join(f"{m} {v:.1f} %" for m, v in row.items())
                        for size, row in table.iterrows())
    return not losing and len(table) > 0, f"error reduction over the baseline: {listing}" + (
        f"; CSA not ahead at {', '.join(losing)}" if losing else "")


PAPER_LIKE = (ch3_results,)  # the seed's own numbers

CLAIMS = (
    Claim("cascading-beats-two-groups-and-fine-tuning",
          '"We found that this Cascading Sum Augmentation method outperforms training with only two groups (k=2) and '
          'fine-tuning using the original data ... in all the cases we tested, by a significant margin" (§3.7.1): in '
          "every cell of tables 3.1/3.2 (dataset, model, subset) the best cascade from k = 8 or 4 has a lower test "
          f"error than the one from k = 2, by at least {SIGNIFICANT_MARGIN:g} point on average over the cells (the "
          "seed's: 0.08 to 1.79, mean 1.0; k = 4 alone is ahead in all 10, k = 8 in 6)", csa_beats_two_groups,
          must_fail=(lambda: ch3_results(csa=two_groups_against_cascades(-0.3)),  # k = 2 the best start everywhere
                     lambda: ch3_results(csa={("cifar100", 2, "wrn28_10", 500): 18.09}),  # a tie with k = 4
                     lambda: ch3_results(csa=two_groups_against_cascades(0.2))),  # ahead everywhere, by 0.2
          must_hold=PAPER_LIKE),
    Claim("cascading-beats-baseline", '"producing a significant generalization performance gain" (§3.8), read on '
          "tables 3.1/3.2: every cascade (from k = 8, 4 and 2) has a lower test error than the baseline, at every "
          "subset, model and dataset", cascade_beats_baseline,
          must_fail=(lambda: ch3_results(csa={("cifar10", 2, "wrn40_4", 5000): 5.60}),  # one cascade above its baseline
                     lambda: ch3_results(csa={("cifar100", 8, "wrn28_10", 500): 21.94})),  # a tie is no win
          must_hold=PAPER_LIKE),
    Claim("cascading-gains-most-at-smallest-subset",
          '"Data augmentation techniques artificially increase the size of the dataset we have available. This makes '
          'them bring the biggest boost in performance, especially when applied to small datasets" (§3.7): the best '
          "cascade from k = 8 or 4 (the method; k = 2 is its comparator) gains the most points of error over the "
          "baseline at the smallest subset, for every model and dataset", gain_largest_at_smallest,
          must_fail=(lambda: ch3_results(csa={("cifar10", BASELINE_K, "wrn28_10", 100): 31.0}),  # gains 1.66 < 7.15
                     lambda: ch3_results(csa={("cifar100", BASELINE_K, "wrn40_4", 100): 38.0})),
          must_hold=PAPER_LIKE),
    Claim("higher-starting-k-lower-final-norm",
          '"using Cascading Sum Augmentation with higher values for k leads to a lower norm of the final model" '
          "(§3.7.1, figure 3.5): on the largest CIFAR-10 subset the norm of each model's reported (best) checkpoint "
          "falls with every doubling of the starting k, from the baseline (k = 1) to k = 8", norm_falls_with_k,
          must_fail=(lambda: ch3_results(norms={("wrn28_10", 8): NORMS["wrn28_10"][4] + 1}),
                     lambda: ch3_results(norms={("wrn40_4", 1): NORMS["wrn40_4"][8] - 1})),
          must_hold=PAPER_LIKE),
    Claim("sum-augmentation-alone-far-above-chance",
          '"the model was able to reach validation accuracies way above random chance. For example, a '
          'WideResNet(28,10) model trained on the full CIFAR-10 dataset, but only with sum augmentation where k = 8 '
          f'reached convergence at a test dataset accuracy of 49.05%" (§3.4): at least {CHANCE_TIMES} times chance',
          sum_only_above_chance,
          must_fail=(lambda: ch3_results(sum_only=10.0), lambda: ch3_results(sum_only=29.9)),
          must_hold=PAPER_LIKE),
    Claim("gradual-beats-cascading", "the gradual cascade has a lower test error than the cascade from the same k "
          "(whole CIFAR-10, every model)", gradual_beats_cascading,
          must_fail=(lambda: ch3_results(gradual={(4, "wrn28_10"): 3.2}),
                     lambda: ch3_results(gradual={(2, "wrn40_4"): 5.53})),
          must_hold=PAPER_LIKE),
    Claim("test-time-sum-augmentation-lowers-error", "test-time sum augmentation lowers the test error of every "
          "model whose cascade stops at k = 2", tta_lowers_error,
          must_fail=(lambda: ch3_results(tta={("cifar100", 2, "wrn40_4"): (27.19, 27.5)}),
                     lambda: ch3_results(tta={("cifar10", 4, "wrn28_10"): (5.35, 5.35)})),
          must_hold=PAPER_LIKE),
    Claim("test-time-sum-augmentation-resists-attacks", "test-time sum augmentation raises the baseline's "
          "accuracy under FGSM, BIM, MI-FGSM and PGD", tta_resists_attacks,
          must_fail=(lambda: ch3_results(attacked={("Sum-Aug", "pgd"): 0.0}),  # no better than without under PGD
                     lambda: ch3_results(attacked={("Sum-Aug", "fgsm"): 20.0})),
          must_hold=PAPER_LIKE),
    Claim("test-time-sum-augmentation-costs-little-clean-accuracy",
          f"test-time sum augmentation costs the baseline under {CLEAN_COST:g} points of clean accuracy",
          tta_clean_cost,
          must_fail=(lambda: ch3_results(attacked={("Sum-Aug", "clean"): 93.0}),
                     lambda: ch3_results(attacked={("Sum-Aug", "clean"): 93.30})),  # 2.02 points
          must_hold=PAPER_LIKE),
    Claim("csa-beats-mixup-and-samplepairing", "cascading from k = 4 reduces the baseline's error more than mixup "
          "and SamplePairing at every CIFAR-10 subset (WRN-28-10)", csa_beats_other_mixing,
          must_fail=(lambda: ch3_results(mixup={100: 29.0}), lambda: ch3_results(mixup={5000: 3.0})),
          must_hold=PAPER_LIKE),
)
