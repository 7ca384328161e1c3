#!/usr/bin/env bash
# The GPU benchmarks as one prepared script (each part a few minutes at most on one GPU).
# Run from the repository root: bash bench/run_gpu.sh; JSON goes to bench/results/gpu/.
# Random-init backbones (model.pretrained=false): speed does not depend on the weights, and no
# download is needed.
set -euo pipefail
export HF_HUB_OFFLINE=1 WANDB_MODE=offline WANDB_SILENT=true
out=${OUT:-bench/results/gpu}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
# 1. overhead at a GPU-sized step: B0, digits upsampled to 224, batch 64, bf16
python -m bench.overhead --device cuda --modes lean,user --epochs 3 --reps 3 \
  --out "$out/overhead.json" model=b0 model.pretrained=false data.image_size=224 \
  data.batch_size=64 trainer.precision=bf16-mixed
# 2. input path at 224: float32 3-channel from the CPU vs uint8 1-channel (workers as a user has)
python -m bench.input_path --device cuda --sizes 224 --workers 4 --epochs 3 \
  --reps 2 --out "$out/input_path.json" model=b0 model.pretrained=false data.batch_size=64 \
  trainer.precision=bf16-mixed
# 3. levers: channels_last, bf16-mixed, torch.compile (compile time separate), B0 at 224
python -m bench.levers --device cuda --model b0 --batch-size 64 --steps 30 \
  --warmup 10 --reps 2 --out "$out/levers.json"
# 4. scaling: B0, B2, B4 at native size, bf16 + channels_last, timm's benchmark batch sizes
#    (B0-B5 overran one 10-minute device run on an H200, 2026-11-30)
python -m bench.scaling --device cuda --models b0,b2,b4 --steps 20 --warmup 5 \
  --out "$out/scaling.json"
