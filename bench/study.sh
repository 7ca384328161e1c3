#!/usr/bin/env bash
# The study of docs/study.md, every run in priority order, on a 2-core CPU box: two lanes (one
# process per core, one thread each), then the report. Run from the repository root:
#
#   bash bench/study.sh            # all parts, resumable
#   PARTS="core digits" bash bench/study.sh
#   PARTS=resolution bash bench/study.sh   # the resolution axis alone (docs/study/resolution.md)
#
# Resumable: experiment=study sets sweep.skip_finished, so a finished run (its metrics.json) is
# never trained again; stop at any time, start again later, and only the missing runs train. A
# run stopped half-way (a folder without metrics.json) would be retrained into its old folder
# next to its old logs, so the script refuses to start while one exists and names it: delete it.
#
# Cost on the 2-core CPU box (AMD EPYC, no GPU), measured 2026-11-30: one Fashion-MNIST run
# (10k images at 32x32, 3 epochs, 12 validations of 1,000 images, the 10k test set) took 564 s
# with one thread, two runs side by side and little else (outputs/study/.../metrics.json
# timing.total_s of repeat and windows, seed 0); a digits run 83-89 s and a textures run 199-202 s
# (two lanes, load 1-2). Parts, in order (hours: FMNIST runs x 9.4 min / 2 lanes):
#   core      Fashion-MNIST: repeat, sum, colormap and random init, 5 seeds    (20 runs, ~1.6 h)
#   digits    digits: every strategy but keras, and random init, 5 seeds       (55 runs)
#   rest      Fashion-MNIST: luma, stack, windows, fold, adapter, mean, scratch (35 runs, ~2.7 h);
#             seeds 0-2 of every strategy first, then seeds 3-4, so a stop part-way leaves every
#             strategy with a paired comparison rather than some with 5 seeds and some with none
#   backbone  Fashion-MNIST, repeat: Lite1 and Lite2 with their packaged ImageNet weights (paired
#             with Lite0's), B0 from random init (no offline weights; paired with Lite0's random
#             init, which is in `core`), 5 seeds (15 runs, each slower than a Lite0 run)
#   textures  skimage textures: every strategy but keras, random init, 5 seeds  (55 runs)
#   backbone and textures go seed group by seed group (0-2, then 3, then 4), backbone first, so a
#   stop part-way leaves both parts with paired seeds; a run took 739-753 s (Lite1), 800-816 s
#   (Lite2), 635-652 s (B0) and about 200 s (textures), and the lanes are balanced by those times
#   resolution  Fashion-MNIST 2,000-image subset (study_data=fashion_mnist_2k): repeat, sum,
#             scratch and random init at 32 and 64 px, seeds 0-2 (24 runs, ~0.8 h, estimated: not
#             yet run at full length); seed by seed, each seed at both sizes, so a stop part-way
#             leaves paired seeds at both sizes; one lane repeat and sum, the other scratch and
#             random init (the same cost). Estimated a run at ~3.1 min (32 px) and ~4.7 min (64 px)
#             from the 10k runs' median fit and test times (47 runs, load < 3.2) scaled to 2,000
#             images and 6 validations, times the 64/32 px cost ratio of a Lite0 step measured
#             with one thread (train 1.87x, eval 1.18x; load 10, docs/study/resolution.md)
# keras is not run on Lite0: its weights normalise every channel with mean 0.5 / std 0.5, so
# keras computes repeat's function and gradients exactly (docs/study_v1.md shows identical runs).
set -uo pipefail
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 WANDB_MODE=offline WANDB_SILENT=true
parts=${PARTS:-core digits rest backbone textures resolution}
logs=${LOGS:-outputs/study/logs}
mkdir -p "$logs"
seeds=0,1,2,3,4
# backbone and textures seed groups (see above): one list for both lanes
seed_groups="0,1,2 3 4"
study() { python train.py -m experiment=study "$@"; }
digits() { study experiment/study_data@study_data=digits "$@"; }
textures() { study experiment/study_data@study_data=textures "$@"; }
# the resolution axis: both sizes of one strategy and seed per call (run folders carry the size)
axis() { study experiment/study_data@study_data=fashion_mnist_2k data.image_size=32,64 "$@"; }
has() { [[ " $parts " == *" $1 "* ]]; }

lane_a() {
  if has core; then
    study adapt=repeat seed=$seeds
    study adapt=colormap seed=$seeds
  fi
  if has digits; then digits adapt=repeat,sum,colormap,luma,stack,windows seed=$seeds; fi
  if has rest; then for s in 0,1,2 3,4; do study adapt=luma,stack,windows,scratch seed=$s; done; fi
  for s in $seed_groups; do
    if has backbone; then
      study model=lite1 adapt=repeat seed=$s
      study model=b0 model.pretrained=false adapt=repeat seed=$s
    fi
    if has textures; then textures adapt=repeat,sum,colormap,luma seed=$s; fi
  done
  if has resolution; then for s in 0 1 2; do axis adapt=repeat,sum seed=$s; done; fi
}

lane_b() {
  if has core; then
    study adapt=sum seed=$seeds
    study adapt=repeat model.pretrained=false seed=$seeds
  fi
  if has digits; then
    digits adapt=fold,adapter,mean,scratch seed=$seeds
    digits adapt=repeat model.pretrained=false seed=$seeds
  fi
  if has rest; then for s in 0,1,2 3,4; do study adapt=fold,adapter,mean seed=$s; done; fi
  for s in $seed_groups; do
    if has backbone; then study model=lite2 adapt=repeat seed=$s; fi
    if has textures; then
      textures adapt=stack,windows,fold,adapter,mean,scratch seed=$s
      textures adapt=repeat model.pretrained=false seed=$s
    fi
  done
  if has resolution; then
    for s in 0 1 2; do
      axis adapt=scratch seed=$s
      axis adapt=repeat model.pretrained=false seed=$s
    done
  fi
}

unfinished=$(find outputs/study -name .hydra -type d 2>/dev/null | while read -r h; do
  run=$(dirname "$h"); [ -f "$run/metrics.json" ] || echo "$run"; done)
if [ -n "$unfinished" ]; then
  echo "bench/study.sh: unfinished run folders (stopped half-way?); delete them first:" $unfinished
  exit 1
fi
uptime
lane_a > "$logs/lane_a.log" 2>&1 &
lane_b > "$logs/lane_b.log" 2>&1 &
wait
uptime
# the finished runs' records (no checkpoints, no split lists: a seed re-derives its split) go
# into the repository, so the report is reproducible from a clone and the next session continues
python -m bench.study_records outputs/study bench/results/cpu/study
python -m graytransfer.tools.study bench/results/cpu/study --out docs/study.md \
  --preface docs/study/preface.md
