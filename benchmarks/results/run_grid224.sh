#!/bin/bash
# Issue 18's grid at 224 px on stanford_cars_fewshot_224: lp-ft with squash
# and EPOCHS fine-tuning epochs, WARMUP of them warm-up (6/2 first; 10/1,
# which val chose after, for the recipe), for `none`, the best unified
# configuration of the frozen stage screen and the best peer (VARIANTS),
# paired by seed. Seeds are added one at a time over every variant (seed 0
# for all, then seed 1, ...), so that a cut-short run still leaves pairs.
# Runs go to the recipe's own folder: its `none` runs are the recipe screen's.
# Finished runs are reused, an interrupted one resumes from its backup.
set -e
cd "$(dirname "$0")/../.."
export KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3
VARIANTS=${VARIANTS:-none,unified@3}
W=../shared/weights/resnet18_tin100
R=${RESULTS:-benchmarks/results}/recipes
EPOCHS=${EPOCHS:-6} WARMUP=${WARMUP:-2}
name=stanford_cars_fewshot_224_lp-ft_e${EPOCHS}_w${WARMUP}_squash
mkdir -p $R/logs
for seeds in ${SEED_STEPS:-0 0,1 0,1,2}; do
  python benchmarks/reproduce.py --protocol=lp-ft --image_size=224 \
      --resize=squash --epochs=$EPOCHS --warmup_epochs=$WARMUP \
      --dataset=folder:../shared/data/stanford_cars_fewshot_224 --weights=$W \
      --variants=$VARIANTS --seeds=$seeds --out=$R/$name >> $R/logs/$name.log 2>&1
done
