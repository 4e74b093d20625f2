"""The language model: embedding → stacked LSTM/GRU → linear decoder over the vocabulary.

One module, two ways of running the recurrence over the *same* parameters:

- ``implementation="fused"``: whole windows at once, fast, for training. What runs:

  - on CUDA (cuDNN) and Apple MPS: ``nn.LSTM`` / ``nn.GRU``;
  - on a CPU: the hand-written layer kernels of :mod:`rnn_demo.recurrence` (one GEMM per time
    step, backward written out, no autograd per gate). PyTorch has no oneDNN GRU on a CPU: it loops
    over the steps recording every gate op for autograd. Measured at the default size (embedding
    64 → 1×384, batch 64, window 64, Adam; bench/train_throughput.py's set-up, runs interleaved):
    GRU 44.4k tokens/s against 32.2k through ``nn.GRU`` with 2 threads (1.38×), 27.6k against
    20.5k with 1 (1.36×). For the LSTM, oneDNN's ``nn.LSTM`` is the competitor: the kernels win
    with 1 thread (21.3k against 18.5k, 1.14×) and in bf16 with 2 (1.22× in fresh processes, ~1.1×
    over whole training runs; bench/RESULTS.md §1), and tie in float32 with 2. An earlier session
    measured oneDNN ahead in bf16 (1.10×) on the same kind of machine: it is close, and it drifts.
    :data:`CPU_KERNELS` holds this choice.

  With no dropout on the embeddings, the kernels' first layer reads its input projection from a
  (vocabulary × gates) table instead of a GEMM (:func:`~rnn_demo.recurrence.run_on_tokens`).
  Under bf16 autocast (the trainer's default on CPUs with bf16 in hardware, see ``devices.py``)
  the kernels run in bf16: ~55k (LSTM) and ~65k (GRU) tokens/s there.
- ``implementation="scratch"``: the hand-written steps of ``cells.py``, one time step at a time —
  slow, but every gate is visible and it proves the cells right.

All of them read ``self.rnn``'s weights (``weight_ih_l0`` …), so a checkpoint trained one way loads
any other way and gives the same logits. Batch-1 sampling always steps through the cell path
(:meth:`step`): calling ``nn.LSTM`` once per character costs ~5× more in per-call overhead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import safetensors.torch
import torch
from huggingface_hub import PyTorchModelHubMixin, hf_hub_download
from torch import Tensor, nn

from . import recurrence, stopping
from .cells import gru_step, lstm_step
from .checkpoint_layout import WEIGHTS_FILE
from .dropout import Dropout, dropout
from .errors import UserError
from .loss import decoder_loss
from .tokenizers import Tokenizer, tokenizer_from_config

CELLS = ("lstm", "gru")
IMPLEMENTATIONS = ("fused", "scratch")

# Whether the fused path runs a cell on recurrence.py's kernels on a CPU (else nn.LSTM / nn.GRU).
# Measured: see above; the tests and benchmarks switch it off to compare with torch's modules.
CPU_KERNELS = {"lstm": True, "gru": True}


# LSTM state is (h, c), GRU state is h; each (layers, batch, hidden) as torch's modules use.
State = Union[tuple[Tensor, Tensor], Tensor]


class RNNLanguageModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="rnn-demo",
    tags=["rnn", "text-generation", "char-rnn"],
    pipeline_tag="text-generation",
    license="mit",
):
    def __init__(
        self,
        tokenizer: dict,
        cell: str = "lstm",
        embedding_size: int = 64,
        hidden_size: int = 384,
        num_layers: int = 1,
        dropout: float = 0.0,
        tie_weights: bool = False,
        implementation: str = "fused",
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise UserError(f"unknown cell {cell!r}: choose one of {', '.join(CELLS)}")
        if implementation not in IMPLEMENTATIONS:
            raise UserError(f"unknown implementation {implementation!r}: choose fused or scratch")
        if tie_weights and embedding_size != hidden_size:
            raise UserError("tied weights need embedding size == hidden size")
        self.tokenizer: Tokenizer = tokenizer_from_config(tokenizer)
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.implementation = implementation
        vocab_size = self.tokenizer.vocab_size

        self.embedding = nn.Embedding(vocab_size, embedding_size)
        rnn_class = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn_class(
            embedding_size,
            hidden_size,
            num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.dropout = Dropout(dropout)
        self.decoder = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            self.decoder.weight = self.embedding.weight

    # ----- state -----------------------------------------------------------------------------

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> State:
        zeros = torch.zeros(self.num_layers, batch_size, self.hidden_size, device=device)
        return (zeros, zeros.clone()) if self.cell == "lstm" else zeros

    @staticmethod
    def detach_state(state: State) -> State:
        """Cut the graph between training windows (truncated backpropagation through time).

        The state carried on is float32 even after a bf16 window, so a run saved in one precision
        resumes in the other (on a machine without bf16, or with ``--precision fp32``)."""
        if isinstance(state, tuple):
            return tuple(s.detach().float() for s in state)
        return state.detach().float()

    # ----- running the recurrence ------------------------------------------------------------

    def forward(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """``ids`` (batch, time) → logits (batch, time, vocab) and the state after the last step."""
        hidden, state = self.hidden_states(ids, state)
        if not hidden.is_contiguous():
            # A (batch, time) view of a time-major tensor: decoding in that order spares a copy of
            # the hidden states (only the logits come back transposed).
            return self.decoder(hidden.transpose(0, 1)).transpose(0, 1), state
        return self.decoder(hidden), state

    def loss(self, ids: Tensor, targets: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """The mean cross-entropy of predicting ``targets`` (batch, time) after ``ids``, and the state.

        The same value as :func:`~rnn_demo.loss.next_token_loss` of :meth:`forward`'s logits, but
        for large vocabularies on a CPU without ever holding all the logits (``loss.py``)."""
        hidden, state = self.hidden_states(ids, state)
        return decoder_loss(hidden, targets, self.decoder.weight, self.decoder.bias), state

    def hidden_states(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """The top layer's outputs (batch, time, hidden), with the decoder's dropout, and the state."""
        if state is None:
            state = self.initial_state(ids.shape[0], ids.device)
        if self.implementation == "fused" and ids.device.type == "cpu" and CPU_KERNELS[self.cell]:
            if self.dropout.p == 0 or not self.training:
                # No dropout on the embeddings: layer 0 reads its input projection from a
                # (vocabulary × gates) table instead of a GEMM (recurrence.run_on_tokens). Its output
                # is a (batch, time) view of a time-major tensor.
                return recurrence.run_on_tokens(self.rnn, self.embedding.weight, ids, state)
            output, state = recurrence.run(self.rnn, self.dropout(self.embedding(ids)), state)
        elif self.implementation == "fused":
            output, state = self.rnn(self.dropout(self.embedding(ids)), state)
        else:
            output, state = self._scratch_layers(self.dropout(self.embedding(ids)), state)
        return self.dropout(output), state

    def _layer_weights(self, layer: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return tuple(getattr(self.rnn, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def _scratch_layers(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """What ``nn.LSTM``/``nn.GRU`` do, written out: each layer steps its cell over time."""
        final_h, final_c = [], []
        for layer in range(self.num_layers):
            weights = self._layer_weights(layer)
            if self.cell == "lstm":
                h, c = state[0][layer], state[1][layer]
            else:
                h = state[layer]
            outputs = []
            for t in range(x.shape[1]):
                stopping.check()
                if self.cell == "lstm":
                    h, c = lstm_step(x[:, t], (h, c), *weights)
                else:
                    h = gru_step(x[:, t], h, *weights)
                outputs.append(h)
            final_h.append(h)
            if self.cell == "lstm":
                final_c.append(c)
            x = torch.stack(outputs, dim=1)
            if layer < self.num_layers - 1:  # nn.LSTM's dropout: between layers, not after the last
                x = dropout(x, self.rnn.dropout, self.training)
        h_n = torch.stack(final_h)
        return x, ((h_n, torch.stack(final_c)) if self.cell == "lstm" else h_n)

    @torch.no_grad()
    def step(self, token: Tensor, state: State) -> tuple[Tensor, State]:
        """One token in (batch,), next-token logits (batch, vocab) out — the fast sampling path."""
        x = self.embedding(token)
        hs, cs = [], []
        for layer in range(self.num_layers):
            weights = self._layer_weights(layer)
            if self.cell == "lstm":
                h, c = lstm_step(x, (state[0][layer], state[1][layer]), *weights)
                cs.append(c)
            else:
                h = gru_step(x, state[layer], *weights)
            hs.append(h)
            x = h
        new_state = (torch.stack(hs), torch.stack(cs)) if self.cell == "lstm" else torch.stack(hs)
        return self.decoder(x), new_state

    # ----- describing itself -----------------------------------------------------------------

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def architecture(self) -> dict:
        """The JSON-able ``__init__`` arguments, as written to ``config.json``."""
        return dict(self._hub_mixin_config)

    # ----- loading: safetensors only ---------------------------------------------------------

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        map_location: str = "cpu",
        strict: bool = True,
        **model_kwargs,
    ) -> "RNNLanguageModel":
        """Load ``model.safetensors`` — never a pickled ``.bin``/``.pt`` file, which could run code."""
        if os.path.isdir(model_id):
            weights = os.path.join(model_id, WEIGHTS_FILE)
            if not os.path.isfile(weights):
                raise UserError(f"{model_id}: no {WEIGHTS_FILE} (only safetensors checkpoints are loaded)")
        else:
            weights = hf_hub_download(
                repo_id=model_id,
                filename=WEIGHTS_FILE,
                revision=revision,
                cache_dir=cache_dir,
                force_download=force_download,
                token=token,
                local_files_only=local_files_only,
            )
        model = cls(**model_kwargs)
        safetensors.torch.load_model(model, weights, strict=strict, device=map_location)
        return model.eval()
