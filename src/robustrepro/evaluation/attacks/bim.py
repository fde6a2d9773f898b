"""BIM, iterative FGSM (Kurakin et al. 2017, "Adversarial examples in the physical world")."""

from __future__ import annotations

import torch

from robustrepro.evaluation.attacks import ATTACKS, Attack, check_steps


@ATTACKS.register("bim")
class BIM(Attack):
    """`iterations` signed steps from x itself, each clipped to the eps-box around x intersected with [0, 1].

    The box is [max(x - eps, 0), min(x + eps, 1)], computed once: clipping the iterate against
    it gives the same numbers as torchattacks' BIM, which clips against x - eps and x + eps.
    """

    def __init__(self, *, eps: float, step_size: float, iterations: int, eot_samples: int = 1):
        super().__init__(eps=eps, eot_samples=eot_samples)
        self.step_size, self.iterations = check_steps(step_size, iterations)

    def perturb(self, model, x, y, generator):
        low, high = (x - self.eps).clamp_(min=0), (x + self.eps).clamp_(max=1)
        x_adv = x
        for _ in range(self.iterations):
            grad = self.gradient(model, x_adv, y)
            x_adv = torch.add(x_adv, grad.sign_(), alpha=self.step_size).clamp_(low, high)
        return x_adv
