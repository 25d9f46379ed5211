#!/usr/bin/env bash
# Sharded extraction on one big machine: N worker processes, each `--shard K/N` into its own cache file, then one
# merge. Worth it on a many-core CPU box (one process does not keep all cores busy: JPEG decoding and the backbone
# share its main thread) or with several GPUs (one worker per GPU via CUDA_VISIBLE_DEVICES).
#
#   scripts/scale-out/local-xargs.sh ./photos mobilenetv2 8
#
# Rerunning the script resumes: finished shards are all cache hits, a killed one computes only what it lacked.
# FINETUNE overrides the command, e.g. FINETUNE="node /path/to/finetune/bin/finetune.js".
set -euo pipefail
FINETUNE=${FINETUNE:-finetune}

DATA=${1:?usage: local-xargs.sh <data folder> <backbone> [workers] [cache dir]}
BACKBONE=${2:?usage: local-xargs.sh <data folder> <backbone> [workers] [cache dir]}
N=${3:-4}
CACHE_DIR=${4:-./cache/shards}
CORES=$(nproc)
THREADS=$(( CORES / N > 0 ? CORES / N : 1 ))      # ONNX Runtime threads per worker: cores ÷ workers

# Download the backbone once, not N times at once.
$FINETUNE models pull "$BACKBONE" >/dev/null 2>&1 || true   # a .onnx path needs no pull

export FINETUNE
seq 0 $((N - 1)) | xargs -P "$N" -I{} \
  $FINETUNE embed --data "$DATA" --backbone "$BACKBONE" --cache-dir "$CACHE_DIR" \
    --shard {}/"$N" --threads "$THREADS" --quiet
# With several GPUs, one worker per GPU instead:
#   seq 0 $((N - 1)) | xargs -P "$N" -I{} sh -c 'CUDA_VISIBLE_DEVICES={} $FINETUNE embed ... --device cuda --shard {}/'"$N"

$FINETUNE cache status --cache-dir "$CACHE_DIR"
# Merge into <cache dir>/../merged/embeddings.sqlite; train with --cache-dir pointing there.
$FINETUNE cache merge --cache-dir "$CACHE_DIR" --out "$(dirname "$CACHE_DIR")/merged"
