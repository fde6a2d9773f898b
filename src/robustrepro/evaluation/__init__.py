"""Evaluations: a trained run's snapshot judged after training (adversarial attacks, test-time augmentation)."""
