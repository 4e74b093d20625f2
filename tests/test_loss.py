"""The training loss: the plain cross-entropy and the blockwise decoder + cross-entropy give the same
values and gradients, in float32 and under bf16 autocast, whatever the layout of the hidden states."""

import pytest
import torch
from torch.nn import functional as F

from rnn_demo import loss as loss_module
from rnn_demo.devices import autocast, cpu_has_bf16
from rnn_demo.loss import DecoderCrossEntropy, decoder_loss, next_token_loss
from rnn_demo.model import RNNLanguageModel

WORDS = 2_500  # over FUSED_MIN_VOCAB: the blockwise path


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(loss_module, "BLOCK_ROWS", 64)  # several blocks and a short last one


def _reference(hidden, targets, weight, bias):
    """Decode, then cross-entropy, with autograd doing the rest."""
    return F.cross_entropy(F.linear(hidden, weight, bias).flatten(0, 1).float(), targets.flatten())


def _inputs(time_major: bool, tokens=(5, 41), size=16, vocab=WORDS):
    generator = torch.Generator().manual_seed(0)
    batch, steps = tokens
    hidden = torch.randn(steps, batch, size, generator=generator) if time_major else torch.randn(batch, steps, size, generator=generator)
    hidden = hidden.transpose(0, 1) if time_major else hidden  # the CPU kernels' (batch, time) view
    weight = torch.randn(vocab, size, generator=generator) / size**0.5
    bias = torch.randn(vocab, generator=generator)
    targets = torch.randint(0, vocab, (batch, steps), generator=generator)
    return [t.requires_grad_(True) for t in (hidden, weight, bias)], targets


@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_next_token_loss_is_cross_entropy_over_every_position(time_major, reduction):
    logits = torch.randn(3, 5, 7)
    if time_major:  # what the CPU kernels return: a (batch, time) view of a time-major tensor
        logits = logits.transpose(0, 1).contiguous().transpose(0, 1)
    logits.requires_grad_(True)
    targets = torch.randint(0, 7, (3, 5))
    loss = next_token_loss(logits, targets, reduction=reduction)
    expected = sum(-logits[b, t].log_softmax(0)[targets[b, t]] for b in range(3) for t in range(5))
    expected = expected if reduction == "sum" else expected / 15
    torch.testing.assert_close(loss, expected.detach())
    (grad,) = torch.autograd.grad(loss, logits)
    (expected_grad,) = torch.autograd.grad(expected, logits)
    torch.testing.assert_close(grad, expected_grad)


@pytest.mark.parametrize("time_major", [False, True])
def test_blockwise_loss_matches_autograd_in_float32(small_blocks, time_major):
    params, targets = _inputs(time_major)
    loss = decoder_loss(params[0], targets, *params[1:])
    assert loss.grad_fn.name() == "DecoderCrossEntropyBackward"  # the path under test, not the fallback
    expected = _reference(params[0], targets, *params[1:])
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-6)
    # a loss scaled after the fact scales every gradient (backward multiplies what forward kept)
    grads = torch.autograd.grad(3 * loss, params)
    expected_grads = torch.autograd.grad(3 * expected, params)
    for grad, want in zip(grads, expected_grads):
        torch.testing.assert_close(grad, want, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bf16 matmuls (autocast would emulate them)")
def test_blockwise_loss_under_bf16_autocast_is_close_to_the_plain_one(small_blocks):
    params, targets = _inputs(time_major=True)
    with autocast(torch.device("cpu"), "bf16"):
        loss = decoder_loss(params[0], targets, *params[1:])
        expected = _reference(params[0], targets, *params[1:])
    assert loss.dtype == torch.float32 and loss.grad_fn.name() == "DecoderCrossEntropyBackward"
    torch.testing.assert_close(loss, expected, rtol=2e-3, atol=0)
    grads = torch.autograd.grad(loss, params)
    for grad, want, param in zip(grads, torch.autograd.grad(expected, params), params):
        assert grad.dtype == param.dtype == torch.float32
        assert (grad - want).norm() <= 0.02 * want.norm()


def test_small_vocabularies_and_inference_take_the_plain_path():
    params, targets = _inputs(time_major=False, vocab=65)
    assert decoder_loss(params[0], targets, *params[1:]).grad_fn.name() != "DecoderCrossEntropyBackward"
    params, targets = _inputs(time_major=False)
    with torch.no_grad():
        value = decoder_loss(params[0], targets, *params[1:])
    torch.testing.assert_close(value, _reference(params[0], targets, *params[1:]).detach(), rtol=1e-6, atol=1e-6)


def test_only_the_gradients_asked_for_are_computed(small_blocks):
    (hidden, weight, bias), targets = _inputs(time_major=False)
    loss = DecoderCrossEntropy.apply(hidden.detach().flatten(0, 1), weight, bias.detach(), targets.flatten())
    (grad,) = torch.autograd.grad(loss, weight)
    torch.testing.assert_close(grad, torch.autograd.grad(_reference(hidden, targets, weight, bias), weight)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("tie_weights", [False, True])
def test_model_loss_equals_the_loss_of_its_logits(small_blocks, cell, tie_weights):
    vocab = {"type": "word", "vocab": ["<unk>", *(f"w{i} " for i in range(WORDS - 1))], "lang": "en"}
    torch.manual_seed(0)
    model = RNNLanguageModel(vocab, cell=cell, embedding_size=12, hidden_size=12, num_layers=2, tie_weights=tie_weights)
    ids = torch.randint(0, WORDS, (3, 23))
    inputs, targets = ids[:, :-1], ids[:, 1:]
    loss, state = model.loss(inputs, targets)
    assert loss.grad_fn.name() == "DecoderCrossEntropyBackward"
    logits, expected_state = model(inputs)
    expected = next_token_loss(logits, targets)
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(state, expected_state)
    params = [p for p in model.parameters()]
    for grad, want in zip(torch.autograd.grad(loss, params), torch.autograd.grad(expected, params)):
        torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-6)
