#!/bin/bash
# The commands behind the README's Results tables (CPU, JAX backend, 128 px,
# frozen protocol), in the order they were run. Logs: benchmarks/results/logs/.
set -e
cd "$(dirname "$0")/../.."
export KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=3
W=../shared/weights/resnet18_tin100
A=unified-no_hierarchical,unified-no_contextual,unified-no_neighbourhood,unified-no_memory,unified-only_hierarchical,unified-only_contextual,unified-only_neighbourhood,unified-only_memory
R=benchmarks/results
mkdir -p $R/logs
python benchmarks/reproduce.py --dataset=folder:../shared/data/tin100_fewshot \
    --weights=$W --variants=none,unified,se,cbam,eca,unified+res,$A \
    --out=$R/tin100_fewshot > $R/logs/tin100_fewshot.log 2>&1
python benchmarks/reproduce.py --dataset=folder:../shared/data/stanford_cars_fewshot \
    --weights=$W --variants=none,unified,se,cbam,eca --learning_rates=1e-3 \
    --out=$R/stanford_cars_fewshot > $R/logs/stanford_cars_fewshot.log 2>&1
python benchmarks/reproduce.py --dataset=folder:../shared/data/cifar10 \
    --weights=$W --variants=none,unified,se,cbam,eca,$A \
    --out=$R/cifar10_fewshot > $R/logs/cifar10_fewshot.log 2>&1
python benchmarks/reproduce.py --dataset=shapes --weights=$W \
    --variants=none,unified,se,cbam,eca --shots=50 --val_shots=20 \
    --learning_rates=1e-3 --out=$R/shapes > $R/logs/shapes.log 2>&1
python benchmarks/reproduce.py --dataset=folder:../shared/data/stanford_cars_fewshot \
    --weights=$W --variants=$A --learning_rates=1e-3 \
    --out=$R/stanford_cars_fewshot_ablations > $R/logs/stanford_cars_fewshot_ablations.log 2>&1
