#!/bin/bash
# Issue 18's screen at 224 px on stanford_cars_fewshot_224: every attention
# (none, unified, cbam, se) x stage (4; 3; 3 and 4, fused before pooling)
# combination, and the unified module's channel-gate extension, on the
# frozen backbone (the maps are cached), seeds 0-4, chosen on val. `none@34`
# is the two-stage head without attention (the baseline of @3 and @34).
# RESIZE: the --resize val chose (run_resize.sh). Finished runs are reused.
# (The committed results have every cell but unified+cg@34, cut for CPU time.)
set -e
cd "$(dirname "$0")/../.."
export KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3
RESIZE=${RESIZE:?set RESIZE to the mode val chose}
W=../shared/weights/resnet18_tin100
R=${RESULTS:-benchmarks/results}/stages
mkdir -p $R/logs
python benchmarks/reproduce.py --protocol=frozen --image_size=224 \
    --resize=$RESIZE --dataset=folder:../shared/data/stanford_cars_fewshot_224 \
    --weights=$W --seeds=0,1,2,3,4 \
    --variants=none,none@34,unified,unified@3,unified@34,cbam,cbam@3,cbam@34,se,se@3,se@34,unified+cg,unified+cg@3,unified+cg@34 \
    --out=$R/stanford_cars_fewshot_224_frozen >> $R/logs/stanford_cars_fewshot_224_frozen.log 2>&1
