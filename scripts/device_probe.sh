#!/bin/bash
# One device call: where a CUDA step spends its time (gpu_probe.py), then draws of cpu-quick
# recipes on the GPU (preset_draws.py, several processes sharing the GPU). Results under $OUT.
export PYTHONPATH=src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,memory.used,utilization.gpu --format=csv
[ "${PROBE_S:-200}" -gt 1 ] && timeout ${PROBE_S:-200} python3 scripts/gpu_probe.py --out $OUT 2>&1 | grep -v -i warn
mkdir -p /tmp/scan
SEEDS=${SEEDS:-0 1 2 3 4 5 6 7}
# RECIPES: NAME:FIELD=VALUE,FIELD=VALUE[:STAGES[:SEEDS]] (seeds comma-separated)
for recipe in ${RECIPES:-base: b4:beta=4 b8:beta=8}; do
  IFS=: read -r name sets stages seeds <<< "$recipe"
  extra=""; for kv in ${sets//,/ }; do extra="$extra --set $kv"; done
  seeds=${seeds//,/ }
  for seed in ${seeds:-$SEEDS}; do
    OMP_NUM_THREADS=1 timeout ${SCAN_S:-200} python3 scripts/preset_draws.py --device cuda --seeds $seed \
      --stages ${stages:-6000} --set cuda_graphs=true $extra --out /tmp/scan/$name-s$seed > /tmp/scan/$name-$seed.log 2>&1 &
  done
done
wait
cat /tmp/scan/*/draws.jsonl > $OUT/scan.jsonl 2>/dev/null
python3 - <<'PY'
import json, os, collections
rows = [json.loads(l) for l in open(os.environ["OUT"] + "/scan.jsonl")] if os.path.exists(os.environ["OUT"] + "/scan.jsonl") else []
by = collections.defaultdict(list)
for r in rows:
    by[json.dumps(r["overrides"]) + f" @{r['steps']}"].append((r["seed"], r["omes"], r["mig"], r["train_s"]))
for k, v in by.items():
    v.sort()
    print(k, "n", len(v), "omes>=0.5:", sum(o >= 0.5 for _, o, _, _ in v), v)
PY
