"""The CPU's cheap dropout (rnn_demo/dropout.py): the right share dropped, the rest scaled, one mask
for forward and backward, reproducible from the seed."""

import pytest
import torch

from rnn_demo.dropout import Dropout, dropout


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.9])
def test_drops_its_share_and_keeps_the_expected_value(p):
    torch.manual_seed(0)
    x = torch.ones(64, 64, 384)
    y = dropout(x, p, training=True)
    dropped = (y == 0).float().mean().item()
    assert dropped == pytest.approx(round(p * 256) / 256, abs=0.003)
    kept = y[y != 0]
    assert torch.allclose(kept, torch.full_like(kept, 256 / (256 - round(p * 256))))
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)
    # every byte of the draws counts: each position of the 8 in a 64-bit draw drops its share
    by_position = (y.flatten()[: 8 * 100_000].view(-1, 8) == 0).float().mean(0)
    assert torch.allclose(by_position, torch.full((8,), dropped), atol=0.01), by_position


def test_the_gradient_passes_where_the_forward_kept_and_scaled():
    x = torch.randn(32, 48, requires_grad=True)
    y = dropout(x, 0.3, training=True)
    y.sum().backward()
    kept = y.detach() != 0
    assert torch.equal(x.grad != 0, kept)
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 256 / (256 - 77)))


def test_off_in_evaluation_and_at_zero_and_reproducible_from_the_seed():
    x = torch.randn(16, 16)
    assert dropout(x, 0.5, training=False) is x and dropout(x, 0.0, training=True) is x
    module = Dropout(0.5)
    module.eval()
    assert module(x) is x
    module.train()
    torch.manual_seed(3)
    first = module(x)
    torch.manual_seed(3)
    assert torch.equal(first, module(x)) and not torch.equal(first, x)
    assert dropout(x.to(torch.bfloat16), 0.5, training=True).dtype == torch.bfloat16
