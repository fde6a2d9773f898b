"""The papers' training methods, one module each: a module registers its parts (samplers, steps,
epoch metrics) on SAMPLERS, STEPS and METRICS when imported, and every module of this package
is imported with robustrepro.training. Adding a method is adding a file here; a run then picks
it by name (e.g. `"sampler": {"name": "facility_location", "ratio": 0.4}`).

selection   seed 000: set-cover clusters, online facility location, ball weighting, data covered
reweight    seed 001: learning to reweight examples (and the seed notebook's gated update)
ordering    seed 004 chapter 2: loss ordering, loss sampling, maximum loss delta ordering
augment     seed 004 chapter 3: sum augmentation, gradual cascade, mixup, SamplePairing
cascade     seed 004 chapter 3: cascading sum augmentation, k, k/2, ..., until sum groups from each phase's best
"""

from robustrepro.registry import import_all

MODULES = import_all(__name__, __path__)
