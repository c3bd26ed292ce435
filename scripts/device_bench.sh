#!/bin/bash
# One device call: the CUDA-only tests, then the GPU benchmarks (default: batch_gpu; BENCH_TOPICS
# names others, e.g. "batch_gpu train_gpu"), each limited to BENCH_S seconds. RESULTS.md and the
# test log come back in $OUT.
export PYTHONPATH=src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,memory.used --format=csv
timeout ${TESTS_S:-150} python3 -m pytest -q -p no:cacheprovider tests/train/test_cuda_paths.py \
  tests/data/test_protocol_all.py -k "cuda or gpu or graph" 2>&1 | tee $OUT/cuda-tests.log | tail -n 25
for topic in ${BENCH_TOPICS:-batch_gpu}; do
  timeout ${BENCH_S:-330} python3 -m benchmarks.run $topic 2>&1 | grep -v -i warn
done
cp benchmarks/RESULTS.md $OUT/RESULTS.md
