"""The EMA of the weights warms up its decay, so that it follows the training from the first steps."""

import pytest
import torch
from nequip.train.ema import WarmupEMA, warmup_decay


def test_warmup_decay_schedule():
    values = [float(warmup_decay(0.99, torch.tensor(n))) for n in (0, 1, 8, 900, 10**6)]
    assert values == pytest.approx([1 / 10, 2 / 11, 9 / 18, 0.99, 0.99])


def test_ema_follows_the_raw_weights_from_the_first_steps():
    """The EMA copy is updated after each optimizer step, as in NequIPLightningModule."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2).double()
    ema = WarmupEMA(model, 0.99)
    raw = []
    for step in range(3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))  # an optimizer step
        raw.append([p.detach().clone() for p in model.parameters()])
        ema.update_parameters(model)
        if step == 0:  # after one step the EMA weights are the raw weights
            for e, r in zip(ema.module.parameters(), raw[0]):
                torch.testing.assert_close(e, r, rtol=0, atol=0)
    # two more updates with decays 2/11 and 3/12 (a fixed 0.99 would still be ~98% the first step's weights)
    for e, r0, r1, r2 in zip(ema.module.parameters(), *raw):
        after_1 = 2 / 11 * r0 + 9 / 11 * r1
        torch.testing.assert_close(e, 3 / 12 * after_1 + 9 / 12 * r2, rtol=1e-12, atol=1e-12)
        assert (e - r2).norm() < 0.3 * (r0 - r2).norm()
    assert int(ema.n_averaged) == 3  # saved in the checkpoint: a resumed run continues the schedule


def test_integer_buffers_are_copied_not_averaged():
    model = torch.nn.Linear(2, 2).double()
    model.register_buffer("index", torch.tensor([3, 1, 2]))
    ema = WarmupEMA(model, 0.99)
    for step in range(3):
        model.index.add_(1)
        ema.update_parameters(model)
    assert ema.module.index.tolist() == [6, 4, 5] and ema.module.index.dtype == torch.int64


def test_follows_the_model_after_its_tensors_are_replaced():
    """Moving a model (here: a dtype change) replaces its tensors; the EMA must average the new ones."""
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 2)
    ema = WarmupEMA(model, 0.99)
    ema.update_parameters(model)  # the first update copies
    first = model.weight.detach().double().clone()
    model.double()
    ema.double()
    with torch.no_grad():
        model.weight.fill_(5.0)
    ema.update_parameters(model)  # decay 2/11
    torch.testing.assert_close(ema.module.weight, 2 / 11 * first + 9 / 11 * 5.0, rtol=1e-12, atol=1e-12)
