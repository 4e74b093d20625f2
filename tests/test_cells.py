"""The hand-written cells compute exactly what torch's cells and one layer of nn.LSTM / nn.GRU compute."""

import pytest
import torch
from torch import nn

from rnn_demo.cells import GRUCell, LSTMCell

INPUT, HIDDEN, BATCH, STEPS = 5, 7, 3, 6
PAIRS = [(LSTMCell, nn.LSTMCell, nn.LSTM), (GRUCell, nn.GRUCell, nn.GRU)]
IDS = ["lstm", "gru"]


def _state(cell_class, batch=BATCH, dtype=torch.float32):
    h = torch.randn(batch, HIDDEN, dtype=dtype)
    return (h, torch.randn(batch, HIDDEN, dtype=dtype)) if cell_class is LSTMCell else h


def _flat(out):
    return torch.cat([o.flatten() for o in out]) if isinstance(out, tuple) else out.flatten()


@pytest.mark.parametrize("ours, theirs, _", PAIRS, ids=IDS)
def test_same_parameters_as_torch(ours, theirs, _):
    mine, torchs = ours(INPUT, HIDDEN), theirs(INPUT, HIDDEN)
    assert {k: v.shape for k, v in mine.state_dict().items()} == {k: v.shape for k, v in torchs.state_dict().items()}


@pytest.mark.parametrize("ours, theirs, _", PAIRS, ids=IDS)
def test_state_dict_loads_both_ways(ours, theirs, _):
    torch.manual_seed(0)
    mine, torchs = ours(INPUT, HIDDEN), theirs(INPUT, HIDDEN)
    mine.load_state_dict(torchs.state_dict())  # strict
    for name, value in torchs.state_dict().items():
        assert torch.equal(mine.state_dict()[name], value)
    other = ours(INPUT, HIDDEN)
    torchs.load_state_dict(other.state_dict())
    for name, value in other.state_dict().items():
        assert torch.equal(torchs.state_dict()[name], value)


@pytest.mark.parametrize("ours, theirs, _", PAIRS, ids=IDS)
def test_same_outputs_and_gradients_as_torch_cell(ours, theirs, _):
    torch.manual_seed(1)
    torchs = theirs(INPUT, HIDDEN)
    mine = ours(INPUT, HIDDEN)
    mine.load_state_dict(torchs.state_dict())
    x = torch.randn(BATCH, INPUT)
    state = _state(ours)
    for with_state in (True, False):  # torch's cells start from zeros when no state is given
        args = (x, state) if with_state else (x,)
        out_mine, out_torch = mine(*args), torchs(*args)
        assert type(out_mine) is type(out_torch)
        torch.testing.assert_close(_flat(out_mine), _flat(out_torch), atol=1e-5, rtol=0)

    out_mine, out_torch = mine(x, state), torchs(x, state)
    weights = torch.randn_like(_flat(out_mine))
    (_flat(out_mine) * weights).sum().backward()
    (_flat(out_torch) * weights).sum().backward()
    for name, param in mine.named_parameters():
        torch.testing.assert_close(param.grad, dict(torchs.named_parameters())[name].grad, atol=1e-5, rtol=0)


@pytest.mark.parametrize("ours, _, layer_class", PAIRS, ids=IDS)
def test_stepping_the_cell_equals_one_layer_of_the_fused_rnn(ours, _, layer_class):
    torch.manual_seed(2)
    layer = layer_class(INPUT, HIDDEN, batch_first=True)
    mine = ours(INPUT, HIDDEN)
    mine.load_state_dict({k[: -len("_l0")]: v for k, v in layer.state_dict().items()})
    xs = torch.randn(BATCH, STEPS, INPUT)
    state = _state(ours)

    outputs, step_state = [], state
    for t in range(STEPS):
        step_state = mine(xs[:, t], step_state)
        outputs.append(step_state[0] if isinstance(step_state, tuple) else step_state)
    mine_out = torch.stack(outputs, dim=1)
    torch_state = tuple(s.unsqueeze(0) for s in state) if isinstance(state, tuple) else state.unsqueeze(0)
    torch_out, torch_final = layer(xs, torch_state)

    torch.testing.assert_close(mine_out, torch_out, atol=1e-5, rtol=0)
    torch.testing.assert_close(_flat(step_state), _flat(torch_final), atol=1e-5, rtol=0)

    grad = torch.randn_like(mine_out)
    (mine_out * grad).sum().backward()
    (torch_out * grad).sum().backward()
    for name, param in mine.named_parameters():
        torch.testing.assert_close(param.grad, getattr(layer, f"{name}_l0").grad, atol=1e-5, rtol=0)


@pytest.mark.parametrize("ours, _, __", PAIRS, ids=IDS)
def test_gradcheck_float64(ours, _, __):
    torch.manual_seed(3)
    cell = ours(3, 4).double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    names = [name for name, _ in cell.named_parameters()]

    def run(x, h, c, *weights):  # the cell as a function of its input, state and weights
        return torch.func.functional_call(cell, dict(zip(names, weights)), (x, (h, c) if ours is LSTMCell else h))

    weights = tuple(p.detach().clone().requires_grad_(True) for p in cell.parameters())
    inputs = (x, h, c, *weights)
    assert torch.autograd.gradcheck(run, inputs, eps=1e-6, atol=1e-6)


def test_gru_reset_gate_acts_inside_the_candidate():
    """The tutorial's GRU ignored the reset gate in the candidate; with a saturated-off reset gate,
    the previous state must not reach the candidate at all."""
    torch.manual_seed(4)
    cell = GRUCell(INPUT, HIDDEN)
    with torch.no_grad():
        cell.bias_ih[:HIDDEN] = -1e4  # r = σ(-∞) = 0
        cell.bias_ih[HIDDEN : 2 * HIDDEN] = -1e4  # z = 0: the output is the candidate alone
    x = torch.randn(BATCH, INPUT)
    h1, h2 = torch.randn(BATCH, HIDDEN), torch.randn(BATCH, HIDDEN)
    torch.testing.assert_close(cell(x, h1), cell(x, h2))
