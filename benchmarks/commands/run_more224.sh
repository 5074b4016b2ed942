#!/bin/bash
# Issue 18's other 224 px measurements, as run after the stage screen
# (run_stages.sh), one after the other:
# 1. the pointing game on `shapes` at 224 px (frozen; the CPU budget: stage
#    4 and 3 of each module, the gate on stage 3, 2 seeds);
# 2. tin100_fewshot at 224 px (64x64 photos upsampled), frozen: none, the
#    stage screen's best unified configuration (unified@3) and the
#    two-stage baseline none@34, one seed at a time over the three;
# 3. throughput of each configuration beside none at 224 px (CPU).
# Not run for lack of CPU time (the commands are here): the 128 px resize
# screen and the 128 px squash recipe (lp-ft 6/2 vs 10/1).
# Finished runs are reused.
set -e
cd "$(dirname "$0")/../.."
export KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3
W=../shared/weights/resnet18_tin100
R=${RESULTS:-benchmarks/results}
mkdir -p $R/logs
python benchmarks/pointing.py --out=$R/pointing_224 --weights=$W --seeds=0,1 \
    --variants=none,unified,unified@3,unified@34,cbam,cbam@3,se@3,unified+cg@3 \
    >> $R/logs/pointing_224.log 2>&1
for seeds in 0 0,1 0,1,2; do
  python benchmarks/reproduce.py --protocol=frozen --image_size=224 \
      --dataset=folder:../shared/data/tin100_fewshot --weights=$W \
      --variants=none,unified@3,none@34 --seeds=$seeds \
      --out=$R/stages/tin100_fewshot_224_frozen >> $R/logs/tin100_fewshot_224_frozen.log 2>&1
done
python benchmarks/throughput.py --attention=none,unified,none@34,unified@3,cbam@34 \
    --image_sizes=224 --output=$R/throughput_stages_cpu.json >> $R/logs/throughput_stages_cpu.log 2>&1
if [ -n "$WITH_128" ]; then
  SIZES=128 RESULTS=$R benchmarks/commands/run_resize.sh
  SIZES=128 CELLS_128="lp-ft:6:2:0,1 lp-ft:10:1:0,1" RESIZE=squash RESULTS=$R \
      benchmarks/commands/run_recipes.sh
fi
