#!/usr/bin/env bash
# The CUDA path end to end, for a session lent a GPU: the CUDA tests (and that the app, asking
# NVML without torch, sees the GPU torch sees), the CLI training 30 s on the GPU
# and sampling from what it wrote, then bench/gpu.py. Logs go to $OUT (or ./gpu-check-out).
#     bash bench/gpu_check.sh path/to/tinyshakespeare.txt [bench/gpu.py options, e.g. --sweep NAME ...]
# All of it takes ~8 min, the app's tests ~1 more: pick the sweep's runs to stay inside one call.
# Where gradio imports, the app's API tests run too, training on the GPU. The GPU image has no
# gradio and an older huggingface_hub: make their wheels here with `bash bench/gpu_wheels.sh .whl`
# (~23.5 MB; with the repo and tiny Shakespeare the tree stays under the 64 MiB a call carries),
# carry .whl and the corpus's folder, and begin the device command with
#     python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
#       --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit;
set -uo pipefail
corpus=${1:?usage: bench/gpu_check.sh CORPUS [bench/gpu.py options]}
out=${OUT:-gpu-check-out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} HF_HUB_OFFLINE=1
python3 - <<'PY' 2>&1 | tee "$out/env.txt"
import torch, huggingface_hub
print(torch.__version__, torch.version.cuda, torch.backends.cudnn.version(), torch.cuda.get_device_name(), "hub", huggingface_hub.__version__)
PY
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv 2>&1 | tee -a "$out/env.txt"
python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_hardware.py 2>&1 | tee "$out/tests.txt"  # test_hardware: NVML finds the GPU torch finds
if python3 -c "import gradio, gradio_client, spaces" 2>/dev/null; then
  python3 -m pytest -q -p no:cacheprovider tests/app/test_app_api.py 2>&1 | tee "$out/app_tests.txt"
fi
python3 -m rnn_demo train "$corpus" --device cuda --seconds 30 --out /tmp/gpu-run --json 2>&1 | tee "$out/cli_train.txt"
python3 -m rnn_demo sample /tmp/gpu-run --prompt "ROMEO:" --length 300 --seed 1 --json 2>&1 | tee "$out/cli_sample.txt"
python3 bench/gpu.py --corpus "$corpus" "${@:2}" 2>&1 | tee "$out/gpu.jsonl"
