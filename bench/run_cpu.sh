#!/usr/bin/env bash
# The CPU numbers in docs/benchmarks.md, run from the repository root. JSON goes to
# bench/results/cpu/ (or $OUT). The load average is recorded next to every table.
# THREADS (default 1) sets torch threads for every loop: on a 2-core machine shared with other
# jobs, one thread per process keeps OpenMP from stalling on a preempted thread, so compared
# loops stay comparable; on an idle machine THREADS=0 uses all cores.
set -euo pipefail
export HF_HUB_OFFLINE=1 WANDB_MODE=offline WANDB_SILENT=true
out=${OUT:-bench/results/cpu}
threads=${THREADS:-1}
mkdir -p "$out"
uptime
python -m bench.overhead --threads "$threads" --modes lean,user --floor \
  --profile --epochs 2 --reps 3 --limit-batches 12 --out "$out/overhead.json"
uptime
python -m bench.checkpoint_write --threads "$threads" --trials 30 \
  --out "$out/checkpoint_write.json" data.batch_size=4
uptime
python -m bench.input_path --threads "$threads" --sizes 32,64 --epochs 3 --reps 2 \
  --limit-batches 8 --out "$out/input_path.json"
uptime
python -m bench.scaling --threads "$threads" --device cpu --steps 3 --warmup 1 \
  --out "$out/scaling.json"
python -m bench.levers --out "$out/levers_no_gpu.json"
python -m bench.levers --threads "$threads" --device cpu --model lite0 \
  --image-size 64 --batch-size 32 --levers channels_last,bf16 --steps 5 --warmup 2 --reps 1 \
  --out "$out/levers_cpu_info.json"
uptime
