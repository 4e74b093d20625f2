#!/usr/bin/env bash
# Wheels for the lent GPU machine, whose image has torch, numpy, pandas and pillow but not this
# project's huggingface_hub 2.x, gradio or spaces. Everything that travels there shares one 64 MiB
# working tree with the repo (~39 MB of it bundled checkpoints), so gradio's 31 MB wheel goes slim:
# without its SSR node server, media samples and the ffmpeg, bokeh and font statics (7.5 MB; the
# app's API tests pass with it, and the page still loads). The whole set comes to ~23.5 MB.
#     bash bench/gpu_wheels.sh .whl      (then carry .whl; bench/gpu_check.sh says how to install)
set -euo pipefail
dest=${1:?usage: bench/gpu_wheels.sh DEST_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
platforms=""
for p in manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=" --platform ${p}_x86_64"
done
# shellcheck disable=SC2086  # $platforms is a list of options
python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp $platforms \
  -d "$tmp" $(grep -E '^(huggingface-hub|gradio|spaces)==' requirements.txt)
rm -f "$tmp"/numpy-* "$tmp"/pandas-* "$tmp"/pillow-*
python3 - "$tmp" <<'PY'
"""Rewrites gradio's wheel without the parts a headless test run never serves."""
import pathlib, sys, zipfile

folder = pathlib.Path(sys.argv[1])
wheel = next(folder.glob("gradio-*.whl"))
drop = ("gradio/templates/node/", "gradio/media_assets/", "gradio/test_data/", "gradio/CHANGELOG.md",
        "gradio/templates/frontend/static/ffmpeg/", "gradio/templates/frontend/static/bokeh/",
        "gradio/templates/frontend/static/fonts/")
with zipfile.ZipFile(wheel) as source:
    items = [(info, source.read(info)) for info in source.infolist() if not info.filename.startswith(drop)]
kept = {info.filename for info, _ in items}
with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as slim:
    for info, data in items:
        if info.filename.endswith(".dist-info/RECORD"):
            data = "".join(line for line in data.decode().splitlines(True) if line.split(",")[0] in kept).encode()
        slim.writestr(info, data)
PY
mkdir -p "$dest"
mv "$tmp"/*.whl "$dest"/
du -sh "$dest"
