"""keras_au.tasks.lr_cooldown: constant, then linearly to 0 over the last share of the steps; RTATL's two Adams
follow it when ``lr_cooldown`` is set and keep the paper's constant rate when it is not."""

from __future__ import annotations

import numpy as np
import pytest

from keras_au.tasks.lr_cooldown import LinearCooldown


def test_constant_then_linear_to_zero_at_the_last_step():
    s = LinearCooldown(3e-4, total_steps=450, share=1 / 3)
    rates = np.array([float(s(i)) for i in range(460)])
    np.testing.assert_allclose(rates[:301], 3e-4, rtol=1e-6)  # 300 constant steps (0-based iteration counter)
    assert np.all(np.diff(rates[300:451]) < 0) and rates[449] == pytest.approx(3e-4 / 150, rel=1e-4)
    assert rates[450] == 0.0 and rates[459] == 0.0
    assert float(s(375)) == pytest.approx(1.5e-4, rel=1e-5)


@pytest.mark.parametrize("share,total", [(0.0, 10), (1.5, 10), (0.5, 0)])
def test_bad_settings_are_refused(share, total):
    with pytest.raises(ValueError):
        LinearCooldown(1e-3, total, share)


def test_rtatl_optimizers_follow_the_cooldown_only_when_asked():
    from keras_au.models.rtatl import task
    from keras_au.models.rtatl.config import make_config

    for cooldown in (0.0, 0.5):
        cfg = make_config("rtatl", "ci", overrides={"train.lr_cooldown": cooldown, "train.epochs": 2,
                                                    "train.steps_per_epoch": 5})
        trainer = task.build_trainer(cfg)
        for opt, rate in ((trainer.optimizer, cfg.train.learning_rate),
                          (trainer.critic_optimizer, cfg.train.critic_learning_rate)):
            opt.iterations.assign(8)  # 3 steps into the 5-step cool-down of a 10-step run
            want = rate * 2 / 5 if cooldown else rate
            assert float(opt.learning_rate) == pytest.approx(want, rel=1e-5)
