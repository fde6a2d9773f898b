"""FGSM (Goodfellow et al. 2015, "Explaining and harnessing adversarial examples"): one signed step of size eps."""

from __future__ import annotations

import torch

from robustrepro.evaluation.attacks import ATTACKS, Attack


@ATTACKS.register("fgsm")
class FGSM(Attack):
    """x + eps * sign(grad), clipped to [0, 1]: the single-step baseline every iterative attack refines."""

    def __init__(self, *, eps: float, eot_samples: int = 1):
        super().__init__(eps=eps, eot_samples=eot_samples)

    def perturb(self, model, x, y, generator):
        grad = self.gradient(model, x, y)
        return torch.add(x, grad.sign_(), alpha=self.eps).clamp_(0, 1)
