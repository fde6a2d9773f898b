"""PGD (Madry et al. 2018, "Towards deep learning models resistant to adversarial attacks"), L-inf."""

from __future__ import annotations

import torch

from robustrepro.evaluation.attacks import ATTACKS, Attack, check_steps, default_generator
from robustrepro.errors import UserError


@ATTACKS.register("pgd")
class PGD(Attack):
    """Signed steps projected back to the eps-ball around x and to [0, 1], from a random start by default.

    The start is x + uniform(-eps, eps) noise, clipped to [0, 1], drawn from the call's generator
    (or one seeded with DEFAULT_SEED), so the same generator state gives the same examples.
    """

    def __init__(self, *, eps: float, step_size: float, iterations: int, random_start: bool = True,
                 eot_samples: int = 1):
        super().__init__(eps=eps, eot_samples=eot_samples)
        self.step_size, self.iterations = check_steps(step_size, iterations)
        if not isinstance(random_start, bool):
            raise UserError(f"attack.random_start: must be true or false; got {random_start!r}")
        self.random_start = random_start

    def perturb(self, model, x, y, generator):
        x_adv = x
        if self.random_start:
            generator = generator if generator is not None else default_generator(x.device)
            noise = torch.empty_like(x).uniform_(-self.eps, self.eps, generator=generator)
            x_adv = noise.add_(x).clamp_(0, 1)
        for _ in range(self.iterations):
            grad = self.gradient(model, x_adv, y)
            step = torch.add(x_adv, grad.sign_(), alpha=self.step_size)
            x_adv = step.sub_(x).clamp_(-self.eps, self.eps).add_(x).clamp_(0, 1)
        return x_adv
