"""The wild model's trainer (task, generator, discriminator optimizers) under mirrored on 2 logical CPU devices
(subprocess)."""

from __future__ import annotations

import pytest
from mirrored_check import assert_gan_trainer_steps, run_check


@pytest.mark.slow
def test_wild_trainer_mirrored_steps_every_optimizer_once(tiny_records, tiny_unlabeled_records, tmp_path):
    # With synchronised BN only round-off separates it from one device (measured <= 6e-5 relative).
    r = run_check("wild", tmp_path, tiny_records, tiny_unlabeled_records, sync_bn=True)
    assert_gan_trainer_steps(r, "wild", ("optimizer", "generator_optimizer", "discriminator_optimizer"),
                             sync_bn=True, rel=1e-3)
