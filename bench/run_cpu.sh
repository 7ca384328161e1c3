#!/usr/bin/env bash
# The CPU numbers in docs/benchmarks.md: run from the repository root on an otherwise idle
# machine (the load average is recorded next to every table). JSON goes to bench/results/cpu/.
set -euo pipefail
export HF_HUB_OFFLINE=1 WANDB_MODE=offline WANDB_SILENT=true
out=${OUT:-bench/results/cpu}
mkdir -p "$out"
uptime
python -m graytransfer.bench.overhead --modes lean,user --bare-metrics --profile --epochs 3 \
  --reps 3 --out "$out/overhead.json"
python -m graytransfer.bench.input_path --sizes 32,64 --epochs 3 --reps 2 --limit-batches 12 \
  --out "$out/input_path.json"
python -m graytransfer.bench.scaling --device cpu --out "$out/scaling.json"
python -m graytransfer.bench.levers --out "$out/levers_no_gpu.json"
python -m graytransfer.bench.levers --device cpu --model lite0 --image-size 64 --batch-size 32 \
  --levers channels_last,bf16 --steps 10 --warmup 3 --reps 2 --out "$out/levers_cpu_info.json"
uptime
