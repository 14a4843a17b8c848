#!/usr/bin/env bash
# GPU throughput of the ImageNet-scale recipes (BENCHMARKS.md §14): images/s, step time, peak memory,
# FLOPs per image and MFU from `selfsup bench`, eager and with train.compile=true; ResNet-50 with and
# without channels_last; the loader alone (JPEG decode + resize in 10 workers) timed beside each step.
#
#   python benchmarks/make_stamp_shards.py --out .bench_data/stamps256      # real JPEG shards, once
#   bash benchmarks/bench_gpu.sh .bench_data/stamps256/train /tmp/bench_gpu [eager|compile|all]
set -uo pipefail
data=${1:?shard folder}
out=${2:?output folder}
which=${3:-all}
mkdir -p "$out"
bench() {  # name, then `selfsup bench` arguments
    local name=$1
    shift
    python3 -m selfsup.cli bench "$@" data.root="$data" --json "$out/$name.json" 2>&1 | grep -v Warning
}
if [[ $which != compile ]]; then
    bench dino_vits16 dino --config configs/dino_vit_small_shards.yaml
    bench mae_vitb16 mae --config configs/mae_vit_base_shards.yaml --loader-batches 10
    bench simclr_r50_nchw simclr --config configs/simclr_resnet50_shards.yaml train.channels_last=false --loader-batches 10
    bench simclr_r50 simclr --config configs/simclr_resnet50_shards.yaml --loader-batches 10
fi
if [[ $which != eager ]]; then
    bench dino_vits16_compile dino --config configs/dino_vit_small_shards.yaml train.compile=true --loader-batches 0
    bench mae_vitb16_compile mae --config configs/mae_vit_base_shards.yaml train.compile=true --loader-batches 0
    bench simclr_r50_compile simclr --config configs/simclr_resnet50_shards.yaml train.compile=true --loader-batches 0
fi
