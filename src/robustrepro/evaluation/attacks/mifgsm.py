"""MI-FGSM (Dong et al. 2018, "Boosting adversarial attacks with momentum")."""

from __future__ import annotations

import torch

from robustrepro.evaluation.attacks import ATTACKS, Attack, check_steps
from robustrepro.options import number


@ATTACKS.register("mifgsm")
class MIFGSM(Attack):
    """Signed steps along a momentum of gradients, each normalised by its mean absolute value per input.

    The momentum is g_t = grad / mean|grad| + decay * g_{t-1}; the iterate is projected back to
    the eps-ball around x and to [0, 1] after every step. The numbers are torchattacks' MIFGSM's,
    but for one case: an input whose gradient is exactly zero (a saturated softmax) adds nothing to
    its momentum here, where torchattacks' 0/0 makes the momentum NaN and the input never moves again.
    """

    def __init__(self, *, eps: float, step_size: float, iterations: int, decay: float = 1.0, eot_samples: int = 1):
        super().__init__(eps=eps, eot_samples=eot_samples)
        self.step_size, self.iterations = check_steps(step_size, iterations)
        self.decay = number("attack.decay", decay, at_least=0)

    def perturb(self, model, x, y, generator):
        per_input = tuple(range(1, x.dim()))
        tiny = torch.finfo(x.dtype).tiny
        momentum = torch.zeros_like(x)
        x_adv = x
        for _ in range(self.iterations):
            grad = self.gradient(model, x_adv, y)
            grad = grad.div_(grad.abs().mean(dim=per_input, keepdim=True).clamp_(min=tiny))
            momentum = grad.add_(momentum.mul_(self.decay))  # the old momentum is not needed after this
            step = torch.add(x_adv, momentum.sign(), alpha=self.step_size)
            x_adv = step.sub_(x).clamp_(-self.eps, self.eps).add_(x).clamp_(0, 1)
        return x_adv
