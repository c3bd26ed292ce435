#!/usr/bin/env bash
# Optional system packages used by a few targets/tests, installed where apt is available and we are root:
#   dataset-fashion-mnist: real product photos (a transfer target with one known factor)
#   chromium: headless rendering test of the HTML report
# Failure here never breaks setup: the features that need them say so clearly when they are missing.
set -u
command -v apt-get >/dev/null 2>&1 || exit 0
[ "$(id -u)" = 0 ] || exit 0
need=()
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
((${#need[@]})) || exit 0
echo "installing system packages: ${need[*]}"
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null 2>&1 \
  || echo "note: could not install ${need[*]} (features that need them will say so)"
exit 0
