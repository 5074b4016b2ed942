#!/bin/bash
# The Stanford Cars fine-tuning recipe, chosen on val (issue 18): `none`,
# seeds 0-2, the --resize the frozen screen chose (RESIZE), three candidates
# at each size: lp-ft 6 epochs / 2 warm-up (the 128 px recipe until now),
# lp-ft 10 / 1, finetune 10 / 1. SIZES: "224", "128" or "224 128".
# Finished runs are reused; every cell also scores test (reported, never
# used to choose).
set -e
cd "$(dirname "$0")/../.."
export KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3
RESIZE=${RESIZE:?set RESIZE to the mode val chose}
W=../shared/weights/resnet18_tin100
R=${RESULTS:-benchmarks/results}/recipes
mkdir -p $R/logs
for size in ${SIZES:-224 128}; do
  ds=stanford_cars_fewshot; [ $size = 224 ] && ds=stanford_cars_fewshot_224
  for cell in lp-ft:6:2 lp-ft:10:1 finetune:10:1; do
    IFS=: read -r mode epochs warmup <<< "$cell"
    name=${ds}_${mode}_e${epochs}_w${warmup}_$RESIZE
    python benchmarks/reproduce.py --protocol=$mode --image_size=$size \
        --resize=$RESIZE --epochs=$epochs --warmup_epochs=$warmup \
        --dataset=folder:../shared/data/$ds --weights=$W --variants=none \
        --seeds=0,1,2 --out=$R/$name >> $R/logs/$name.log 2>&1
  done
done
