#!/bin/bash
# Issue 18's grid at 224 px on stanford_cars_fewshot_224: lp-ft with squash
# and EPOCHS fine-tuning epochs, WARMUP of them warm-up (6/2 first; 10/1,
# which val chose after, for the recipe), for `none`, the best unified
# configuration of the frozen stage screen and the best peer (VARIANTS),
# paired by seed. Seeds are added one at a time over every variant (seed 0
# for all, then seed 1, ...), so that a cut-short run still leaves pairs.
# Runs go to the recipe's own folder: its `none` runs are the recipe screen's.
# Finished runs are reused, an interrupted one resumes from its backup.
# Each step is one run_recipes.sh cell (same folder, log and command).
set -e
cd "$(dirname "$0")/../.."
for seeds in ${SEED_STEPS:-0 0,1 0,1,2}; do
  SIZES=224 RESIZE=squash VARIANTS=${VARIANTS:-none,unified@3} \
      CELLS_224="lp-ft:${EPOCHS:-6}:${WARMUP:-2}:$seeds" \
      benchmarks/commands/run_recipes.sh
done
