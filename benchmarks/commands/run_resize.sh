#!/bin/bash
# Stanford Cars: which --resize, chosen on val (issues 18, 19). The frozen
# backbone (cheap: the maps are cached), `none` and `unified` (VARIANTS),
# seeds 0-2, at 128 px (stanford_cars_fewshot) and 224 px
# (stanford_cars_fewshot_224), every resize mode. Finished runs are reused.
# Then benchmarks/screen_report.py puts the cells in one table.
set -e
cd "$(dirname "$0")/../.."
export KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3
W=../shared/weights/resnet18_tin100
R=${RESULTS:-benchmarks/results}/recipes
mkdir -p $R/logs
for size in ${SIZES:-224 128}; do
  ds=stanford_cars_fewshot; [ $size = 224 ] && ds=stanford_cars_fewshot_224
  for resize in crop squash pad; do
    python benchmarks/reproduce.py --protocol=frozen --image_size=$size \
        --resize=$resize --dataset=folder:../shared/data/$ds --weights=$W \
        --variants=${VARIANTS:-none,unified} --seeds=0,1,2 \
        --out=$R/${ds}_frozen_$resize >> $R/logs/${ds}_frozen_$resize.log 2>&1
  done
done
