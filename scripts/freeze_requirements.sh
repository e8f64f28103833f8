#!/usr/bin/env bash
# Re-resolves the direct requirements together and pins them into requirements.txt (maintainers only).
# pip's resolver backtracks for a long time over TFX 1.16's Google Cloud pins; uv resolves in < 1 min.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=$(bash scripts/find_python310.sh)
"$py" -m venv "$tmp/uv" && "$tmp/uv/bin/pip" install -q uv
cat > "$tmp/req.in" <<'REQ'
tfx[kfp]==1.16.0
tensorflow==2.16.2
tensorflow-serving-api==2.16.1
dill
opencv-contrib-python-headless
dlib-bin
face-recognition-models
scikit-image
matplotlib
tqdm
ai-edge-litert
plotly
imageio-ffmpeg
selenium
pytest
pytest-xdist
import-linter
dask[distributed]
# ResNet-18 + its ImageNet preset (issue 26); 0.25.1 is the last release that accepts Keras 3.12.
keras-hub==0.25.1
REQ
# Start from the current pins: uv keeps them unless the new requirements force a change.
grep -v '^ *#' requirements.txt > "$tmp/req.txt" || true
"$tmp/uv/bin/uv" pip compile --python-version 3.10 --python-platform x86_64-manylinux_2_36 "$tmp/req.in" -o "$tmp/req.txt"
{ echo "# The pinned, tested set: resolved together from the direct requirements in pyproject.toml"
  echo "# (tfx[kfp]==1.16.0 tensorflow==2.16.2 tensorflow-serving-api==2.16.1 + keras-hub==0.25.1, tools, dask[distributed]) by scripts/freeze_requirements.sh."
  grep -v '^ *#' "$tmp/req.txt" | sed '/^$/d'; } > requirements.txt
echo "requirements.txt: $(grep -vc '^#' requirements.txt) pins"
