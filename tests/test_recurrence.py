"""The hand-written LSTM/GRU layer kernels: same numbers and gradients as nn.LSTM/nn.GRU, gradcheck, model wiring."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from rnn_demo import model as model_module
from rnn_demo import recurrence
from rnn_demo.model import RNNLanguageModel
from rnn_demo.tokenizers import CharTokenizer

VOCAB = CharTokenizer(["<unk>", *"abcdefgh \n.,"]).to_config()
MODULES = {"lstm": nn.LSTM, "gru": nn.GRU}


def _states(cell, layers, batch, hidden, dtype=torch.float32, requires_grad=True):
    make = lambda: torch.randn(layers, batch, hidden, dtype=dtype, requires_grad=requires_grad)  # noqa: E731
    return (make(), make()) if cell == "lstm" else make()


def _tensors(state):
    return [] if state is None else list(state) if isinstance(state, tuple) else [state]


def _loss(output, state):
    """Weights every output and the final state differently, so every gradient path is checked."""
    weights = torch.linspace(-1, 1, output.numel(), dtype=output.dtype).view_as(output)
    return (output * weights).sum() + sum((s * 0.7).sin().sum() for s in _tensors(state))


def _run_and_grad(function, rnn, x, state):
    output, final = function(x, state)
    inputs = [x, *rnn.parameters(), *_tensors(state)]
    return [output, *_tensors(final), *torch.autograd.grad(_loss(output, final), inputs)]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("initial_state", [False, True])
@pytest.mark.parametrize("dropout, training", [(0.0, True), (0.4, False)])
@pytest.mark.parametrize("batch_first", [True, False])
def test_outputs_and_gradients_equal_torch_modules(cell, layers, initial_state, dropout, training, batch_first):
    torch.manual_seed(0)
    rnn = MODULES[cell](6, 10, layers, dropout=dropout if layers > 1 else 0.0, batch_first=batch_first).train(training)
    x = torch.randn(*((4, 7) if batch_first else (7, 4)), 6, requires_grad=True)
    state = _states(cell, layers, 4, 10) if initial_state else None
    expected = _run_and_grad(rnn, rnn, x, state)
    got = _run_and_grad(lambda x, s: recurrence.run(rnn, x, s), rnn, x, state)
    assert len(got) == len(expected)
    for ours, theirs in zip(got, expected):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_dropout_between_layers_in_training_mode(cell):
    """Dropout masks differ from torch's (different random draws), so check its effect, not its values."""
    torch.manual_seed(0)
    rnn = MODULES[cell](6, 10, 2, dropout=0.5, batch_first=True)
    x = torch.randn(3, 5, 6)
    assert not torch.allclose(recurrence.run(rnn, x)[0], recurrence.run(rnn, x)[0])
    rnn.eval()
    torch.testing.assert_close(recurrence.run(rnn, x)[0], rnn(x)[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradcheck_float64(cell):
    torch.manual_seed(0)
    steps, batch, inputs, hidden = 4, 3, 2, 3
    gates = 4 if cell == "lstm" else 3
    x = torch.randn(steps, batch, inputs, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(batch, hidden, dtype=torch.float64, requires_grad=True)
    weights = [
        torch.randn(*shape, dtype=torch.float64, requires_grad=True)
        for shape in ((gates * hidden, inputs), (gates * hidden, hidden), (gates * hidden,), (gates * hidden,))
    ]
    if cell == "lstm":
        c0 = torch.randn(batch, hidden, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(recurrence.lstm_layer, (x, h0, c0, *weights))
    else:
        assert torch.autograd.gradcheck(recurrence.gru_layer, (x, h0, *weights))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradcheck_float64_two_layers_through_run(cell):
    torch.manual_seed(0)
    rnn = MODULES[cell](2, 3, 2, batch_first=True).double()
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    state = _states(cell, 2, 2, 3, dtype=torch.float64)

    def function(x, *state_and_params):
        state = tuple(state_and_params[:2]) if cell == "lstm" else state_and_params[0]
        output, final = recurrence.run(rnn, x, state)
        return (output, *_tensors(final))

    # the parameters are reached through rnn; check them via x and the state, then compare params separately
    assert torch.autograd.gradcheck(function, (x, *_tensors(state)))
    params = list(rnn.parameters())
    analytic = torch.autograd.grad(_loss(*recurrence.run(rnn, x, state)), params)
    expected = torch.autograd.grad(_loss(*rnn(x, state)), params)
    for ours, theirs in zip(analytic, expected):
        torch.testing.assert_close(ours, theirs, atol=1e-10, rtol=0)


def test_gradients_only_where_asked():
    """Parameters frozen and a state without grad: only x gets a gradient; nothing breaks."""
    torch.manual_seed(0)
    rnn = nn.GRU(4, 5, batch_first=True)
    rnn.requires_grad_(False)
    x = torch.randn(2, 3, 4, requires_grad=True)
    (grad,) = torch.autograd.grad(recurrence.run(rnn, x)[0].sum(), x)
    (expected,) = torch.autograd.grad(rnn(x)[0].sum(), x)
    torch.testing.assert_close(grad, expected, atol=1e-5, rtol=0)


def test_unsupported_modules_are_refused():
    assert not recurrence.supports(nn.LSTM(3, 4, bidirectional=True))
    assert not recurrence.supports(nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(ValueError):
        recurrence.run(nn.GRU(3, 4, bias=False), torch.zeros(2, 3, 3))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("initial_state", [False, True])
@pytest.mark.parametrize("vocab", [7, 40])  # 2·7 ≤ 5·4 tokens: table; 2·40 > 20: embedding + run()
def test_run_on_tokens_equals_embedding_then_module(cell, layers, initial_state, vocab):
    torch.manual_seed(0)
    rnn = MODULES[cell](6, 10, layers, batch_first=True)
    embedding = torch.randn(vocab, 6, requires_grad=True)
    ids = torch.randint(0, vocab, (4, 5))
    state = _states(cell, layers, 4, 10) if initial_state else None
    assert recurrence.table_pays(vocab, ids.numel()) == (vocab == 7)
    results = []
    for function in (lambda e, s: rnn(F.embedding(ids, e), s), lambda e, s: recurrence.run_on_tokens(rnn, e, ids, s)):
        output, final = function(embedding, state)
        inputs = [embedding, *rnn.parameters(), *_tensors(state)]
        results.append([output, *_tensors(final), *torch.autograd.grad(_loss(output, final), inputs)])
    for ours, theirs in zip(results[1], results[0]):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradcheck_float64_table_layers(cell):
    torch.manual_seed(0)
    steps, batch, vocab, hidden = 4, 3, 5, 3
    gates = 4 if cell == "lstm" else 3
    ids = torch.randint(0, vocab, (steps, batch))
    table = torch.randn(vocab, gates * hidden, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(batch, hidden, dtype=torch.float64, requires_grad=True)
    w_hh = torch.randn(gates * hidden, hidden, dtype=torch.float64, requires_grad=True)
    if cell == "lstm":
        c0 = torch.randn(batch, hidden, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(recurrence.LSTMTableLayer.apply, (ids, table, h0, c0, w_hh))
    else:
        b_hh = torch.randn(gates * hidden, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(recurrence.GRUTableLayer.apply, (ids, table, h0, w_hh, b_hh))


def _model_results(model, ids, state, seed=None):
    if seed is not None:
        torch.manual_seed(seed)
    logits, final = model(ids, state)
    grads = torch.autograd.grad(_loss(logits, final), list(model.parameters()))
    return [logits, *_tensors(final), *grads]


def _count_calls(monkeypatch):
    calls = []
    for name in ("run", "run_on_tokens"):
        original = getattr(recurrence, name)
        monkeypatch.setattr(recurrence, name, lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k))
    return calls


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(
    "layers, dropout, training, path",
    [
        (1, 0.0, True, "run_on_tokens"),
        (2, 0.0, True, "run_on_tokens"),
        (2, 0.3, False, "run_on_tokens"),
        (1, 0.3, True, "run"),
    ],
)
def test_model_fused_path_on_cpu_equals_torch_modules(monkeypatch, cell, layers, dropout, training, path):
    """The model's fused path with the kernels on gives the logits and gradients of nn.LSTM/nn.GRU.

    With dropout in training mode the masks must match too: one layer only (nn.LSTM draws its
    inter-layer masks differently), the same seed for both runs."""
    torch.manual_seed(0)
    model = RNNLanguageModel(VOCAB, cell=cell, embedding_size=8, hidden_size=12, num_layers=layers, dropout=dropout)
    model.train(training)
    ids = torch.randint(0, len(VOCAB["vocab"]), (3, 9), generator=torch.Generator().manual_seed(1))
    state = model.initial_state(3)
    monkeypatch.setitem(model_module.CPU_KERNELS, cell, False)
    calls = _count_calls(monkeypatch)
    expected = _model_results(model, ids, state, seed=5)
    assert calls == []
    monkeypatch.setitem(model_module.CPU_KERNELS, cell, True)
    got = _model_results(model, ids, state, seed=5)
    assert calls == [path]
    for ours, theirs in zip(got, expected):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_model_kernels_under_no_grad_and_inference_mode(monkeypatch, cell):
    """Evaluation (no_grad) and sampling prompts (inference_mode) run the kernels without a graph."""
    torch.manual_seed(0)
    model = RNNLanguageModel(VOCAB, cell=cell, embedding_size=8, hidden_size=12, num_layers=2).eval()
    ids = torch.randint(0, len(VOCAB["vocab"]), (2, 30), generator=torch.Generator().manual_seed(1))
    monkeypatch.setitem(model_module.CPU_KERNELS, cell, False)
    with torch.no_grad():
        expected, _ = model(ids)
    monkeypatch.setitem(model_module.CPU_KERNELS, cell, True)
    with torch.no_grad():
        got, _ = model(ids)
    with torch.inference_mode():
        inferred, _ = model(ids)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(inferred, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("tokens", [False, True])
def test_bf16_autocast_runs_the_kernels_in_bf16_close_to_float32(cell, tokens):
    """bf16 training (devices.py): the kernels compute in bf16, parameters get float32 gradients
    within bf16 rounding (relative errors measured 0.3–1.1 %) of the float32 module's."""
    torch.manual_seed(0)
    rnn = MODULES[cell](16, 48, 2, batch_first=True)
    embedding = torch.randn(9, 16, requires_grad=True)
    ids = torch.randint(0, 9, (8, 24))
    state = _states(cell, 2, 8, 48)
    inputs = [embedding, *rnn.parameters(), *_tensors(state)]

    def outputs_and_gradients(function):
        output, final = function(embedding, state)
        return output, [output.float(), *torch.autograd.grad(_loss(output.float(), final), inputs)]

    _, expected = outputs_and_gradients(lambda e, s: rnn(F.embedding(ids, e), s))
    ours = (lambda e, s: recurrence.run_on_tokens(rnn, e, ids, s)) if tokens else (lambda e, s: recurrence.run(rnn, F.embedding(ids, e), s))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output, got = outputs_and_gradients(ours)
    assert output.dtype == torch.bfloat16
    for g, e, x in zip(got, expected, [None, *inputs]):
        assert g.dtype == torch.float32 and (x is None or g.shape == x.shape)
        assert (g - e).norm() / e.norm() < 0.03


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("tokens", [False, True])
def test_onednn_step_products_equal_the_addmm_path(monkeypatch, cell, tokens):
    """The per-step products on oneDNN with packed weights (the default wherever torch has oneDNN)
    give the outputs and gradients of plain ``torch.addmm``."""
    default_size = torch.zeros(4 * 384, 384)
    assert recurrence._onednn_packs(default_size) == torch.backends.mkldnn.is_available()
    assert recurrence._onednn_packs(default_size.t()) == torch.backends.mkldnn.is_available()  # backward's
    assert not recurrence._onednn_packs(torch.zeros(4 * 128, 128))  # too small to pay in float32: addmm
    assert not recurrence._onednn_packs(default_size.double())  # gradcheck's dtype: addmm
    monkeypatch.setitem(recurrence.ONEDNN_MIN_HIDDEN, torch.float32, 1)  # the small model below on oneDNN too
    torch.manual_seed(0)
    rnn = MODULES[cell](6, 10, 2)
    embedding = torch.randn(11, 6, requires_grad=True)
    ids = torch.randint(0, 11, (7, 4))
    state = _states(cell, 2, 4, 10)
    if tokens:
        function = lambda e, s: recurrence.run_on_tokens(rnn, e, ids, s)  # noqa: E731
    else:
        function = lambda e, s: recurrence.run(rnn, F.embedding(ids, e), s)  # noqa: E731
    results = []
    for onednn in (False, True):
        monkeypatch.setattr(recurrence, "ONEDNN_STEPS", onednn)
        results.append(_run_and_grad(function, rnn, embedding, state))
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
