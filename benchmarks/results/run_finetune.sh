#!/bin/bash
# The paper's full fine-tuning protocol (`--protocol=finetune`), none vs
# unified, on the 2-core CPU: TensorFlow backend (1.5x faster than JAX on this
# CPU at 128 px, see benchmarks/README.md), 128 px (the backbone's pretraining
# size), one learning rate (the recipe's 1e-3, backbone at 0.1x), and far
# fewer than the paper's 100 epochs (CPU time). Seeds are added one at a time so
# a stopped run still leaves paired none/unified results; finished runs
# (runs/*/metrics.json) are reused. Logs: benchmarks/results/logs/.
set -e
cd "$(dirname "$0")/../.."
export KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3
W=../shared/weights/resnet18_tin100
R=benchmarks/results
mkdir -p $R/logs

# finetune NAME EPOCHS VARIANTS SEEDS: ../shared/data/NAME -> $R/NAME_finetune
finetune() {
  python benchmarks/reproduce.py --protocol=finetune \
      --dataset=folder:../shared/data/$1 --weights=$W --epochs=$2 \
      --variants=$3 --seeds=$4 --learning_rates=1e-3 \
      --out=$R/$1_finetune >> $R/logs/$1_finetune.log 2>&1
}

for seeds in 0 0,1 0,1,2; do
  finetune tin100_fewshot "${TIN_EPOCHS:-12}" none,unified $seeds
done
for seeds in 0 0,1 0,1,2; do
  finetune stanford_cars_fewshot "${CARS_EPOCHS:-6}" none,unified $seeds
done
# The cheapest change the frozen tables point to (the contextual branch alone,
# +5 k parameters), fine-tuned; none/unified runs above are reused.
finetune tin100_fewshot "${TIN_EPOCHS:-12}" none,unified,unified-only_contextual 0,1,2
python benchmarks/results/strip_progress.py $R/logs/*_finetune.log
