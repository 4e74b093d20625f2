"""rnn_demo: train, watch and sample LSTM and GRU language models.

The modules follow the data: ``data`` (reading a corpus) → ``tokenizers`` → ``batches`` →
``cells`` / ``model`` → ``train`` (with ``evaluate``) → ``checkpoint`` / ``hub`` / ``catalog`` →
``generate``; ``cli`` and the app at the top level are thin front ends over these. ``config``
(a run's settings) and ``app_settings`` (a deployment's), ``hardware``, ``checkpoint_layout``,
``catalog`` and ``data`` import no torch: the app builds its page from them alone.
"""
