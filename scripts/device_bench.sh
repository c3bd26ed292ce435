#!/bin/bash
# One device call: the CUDA-only tests, the train_gpu benchmark (RESULTS.md section), the data
# stream's rate, then more cpu-quick draws on the GPU (scripts/device_probe.sh's scan). Results in $OUT.
export PYTHONPATH=src PYTHONUNBUFFERED=1
python3 -m pytest -q -p no:cacheprovider tests/train/test_cuda_paths.py tests/data/test_protocol_all.py -k "cuda or gpu" 2>&1 | tail -n 15
timeout ${BENCH_S:-150} python3 -m benchmarks.run train_gpu 2>&1 | grep -v -i warn
cp benchmarks/RESULTS.md $OUT/RESULTS.md
timeout 60 python3 scripts/gpu_probe.py --skip floor,profile,loop,compile --out $OUT 2>&1 | grep what
PROBE_S=1 bash scripts/device_probe.sh 2>&1 | tail -n 6
