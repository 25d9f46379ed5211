#!/usr/bin/env bash
# The Slurm example on a real Slurm cluster: starts a private single-node cluster (munged + slurmctld + slurmd,
# Slurm 22.05 from Debian) in a temporary folder, submits scripts/scale-out/slurm-embed.sbatch as a 4-task job
# array with MobileNetV2-int8 pulled from the ../shared/zoo mirror (served on 127.0.0.1), then checks:
#   1. every array task completed; `finetune cache status` shows 4 complete shards; `finetune cache merge` exits 0;
#   2. training on the merged cache computes nothing (0 computed, 0 backbone batches);
#   3. the merged features are byte-identical to an unsharded `finetune embed` of the same folder;
#   4. fault case: a second array run has one task scancel'ed mid-shard; `cache status` names that shard, merge exits 1
#      naming it, resubmitting only that index (`sbatch --array=K`) resumes it, and the merge is complete and equal.
# Everything it starts (daemons, the mirror, jobs) is stopped and the folder removed on exit, also on failure or
# Ctrl-C. Every wait has a deadline, so a stuck scheduler fails the test instead of hanging it.
#
#   sudo scripts/scale-out/test-slurm.sh            # needs root, slurm-wlm and munge (apt-get install slurm-wlm munge)
#
# Exit codes: 0 passed, 1 failed, 77 skipped (the reason is printed: not root, Slurm/munge missing, no ../shared).
# Environment: KEEP_TMP=1 keeps the folder for inspection; SLURM_TEST_TIMEOUT (default 900) overall seconds;
# SLURM_TEST_IMAGES_PER_CLASS (default 70, 3 classes).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
SBATCH_SCRIPT=$REPO/scripts/scale-out/slurm-embed.sbatch
ZOO=$REPO/../shared/zoo
BACKBONE=mobilenetv2-int8
SHARDS=4
PER_CLASS=${SLURM_TEST_IMAGES_PER_CLASS:-70}
DEADLINE=$(( $(date +%s) + ${SLURM_TEST_TIMEOUT:-900} ))
FINETUNE="node $REPO/bin/finetune.js"

log() { printf '[test-slurm %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() { log "FAIL: $*"; exit 1; }
skip() { log "SKIPPED: $*"; exit 77; }
left() { echo $(( DEADLINE - $(date +%s) )); }
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }   # seconds since a `date +%s.%N`
# Runs a command with what is left of the overall deadline (at most $1 seconds).
bounded() { local cap=$1; shift; local t; t=$(left); (( t > cap )) && t=$cap; (( t > 0 )) || fail "out of time before: $*"; timeout -k 10 "$t" "$@"; }

# --- preconditions: skip (77) with the reason ----------------------------------------------------------------------
[ "$(id -u)" = 0 ] || skip "needs root (munged runs as the munge user, slurmd as root)"
for tool in munged slurmctld slurmd sbatch squeue scancel scontrol sinfo sqlite3 runuser timeout; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (apt-get install slurm-wlm munge sqlite3)"
done
getent passwd munge >/dev/null || skip "there is no munge user (apt-get install munge creates it)"
[ -f "$ZOO/validated/vision/classification/mobilenet/model/mobilenetv2-12-int8.onnx" ] || skip "../shared/zoo is absent (looked at $ZOO)"
PLUGIN_DIR=$(dirname "$(find /usr/lib /usr/lib64 -name select_cons_tres.so -path '*slurm*' 2>/dev/null | head -1)")
[ -n "$PLUGIN_DIR" ] && [ "$PLUGIN_DIR" != . ] || skip "Slurm's plugins (select_cons_tres.so) were not found"
log "$(slurmctld -V), $(munged -V 2>&1 | head -1), node $(node --version), load $(cut -d' ' -f1-3 /proc/loadavg)"

# --- a private cluster in a temporary folder -----------------------------------------------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/finetune-slurm.XXXXXX")
chmod 755 "$T"                      # munged wants its socket folder reachable by all
MIRROR_PID=
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  set +e
  if [ -f "$T/slurm.conf" ]; then
    export SLURM_CONF=$T/slurm.conf
    scancel --quiet --user=root --full 2>/dev/null     # our private cluster runs only this test's jobs
    timeout 20 scontrol shutdown >/dev/null 2>&1
  fi
  for pidfile in "$T/slurmctld.pid" "$T/slurmd.pid" "$T/munge-run/munged.pid"; do
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; [ "$_" = 1 ] && kill "$pid" 2>/dev/null; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  [ -n "$MIRROR_PID" ] && kill "$MIRROR_PID" 2>/dev/null
  if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
  if [ "$code" = 0 ]; then log "PASSED"; elif [ "$code" != 77 ]; then log "exit $code"; fi
  exit "$code"
}
trap cleanup EXIT
trap 'fail "interrupted"' INT TERM

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

mkdir -p "$T/munge-etc" "$T/munge-run" "$T/spool/ctld" "$T/spool/d" "$T/log" "$T/job/logs"
if command -v mungekey >/dev/null; then mungekey --create --keyfile="$T/munge-etc/munge.key" >/dev/null
else dd if=/dev/urandom of="$T/munge-etc/munge.key" bs=1024 count=1 2>/dev/null; fi
chown -R munge: "$T/munge-etc" "$T/munge-run"
chmod 700 "$T/munge-etc"; chmod 400 "$T/munge-etc/munge.key"; chmod 755 "$T/munge-run"
MUNGE_SOCKET=$T/munge-run/munge.socket
runuser -u munge -- munged --socket="$MUNGE_SOCKET" --key-file="$T/munge-etc/munge.key" \
  --pid-file="$T/munge-run/munged.pid" --log-file="$T/munge-etc/munged.log" --seed-file="$T/munge-etc/munged.seed" \
  || { cat "$T/munge-etc/munged.log" 2>/dev/null; fail "munged did not start"; }

NODE=$(hostname -s)
MEM_MB=$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.8 }' /proc/meminfo)
cat >"$T/slurm.conf" <<EOF
ClusterName=finetune-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
PluginDir=$PLUGIN_DIR
StateSaveLocation=$T/spool/ctld
SlurmdSpoolDir=$T/spool/d
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=3600
KillWait=5
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=2 RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$T/slurm.conf
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start: $(tail -5 "$T/log/slurmctld.log" 2>/dev/null)"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start: $(tail -5 "$T/log/slurmd.log" 2>/dev/null)"
for i in $(seq 60); do
  state=$(sinfo -h -N -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  [ "$i" = 60 ] && fail "the node is not idle after 30 s (sinfo: '$state'); slurmd log: $(tail -5 "$T/log/slurmd.log")"
  sleep 0.5
done
log "cluster up: $(sinfo -h -N -o '%N %T CPUs=%c mem=%mMB') (SLURM_CONF=$SLURM_CONF)"

# --- backbone through the mirror, dataset, unsharded reference -----------------------------------------------------
node --import tsx "$REPO/scripts/serve-zoo-mirror.ts" "$ZOO" 0 >"$T/mirror.url" 2>"$T/mirror.log" &
MIRROR_PID=$!
for _ in $(seq 100); do [ -s "$T/mirror.url" ] && break; sleep 0.1; done
MIRROR=$(head -1 "$T/mirror.url")
[ -n "$MIRROR" ] || fail "the zoo mirror did not start: $(cat "$T/mirror.log")"
export FINETUNE_HOME=$T/home
bounded 120 $FINETUNE models pull "$BACKBONE" --mirror "$MIRROR" --quiet
log "pulled $BACKBONE from the mirror at $MIRROR into $FINETUNE_HOME (the array tasks run --offline)"

DATA=$T/data
read -r IMAGES SOURCE < <(bounded 120 node --import tsx "$REPO/scripts/scale-out/write-test-dataset.ts" "$DATA" "$PER_CLASS")
(( IMAGES >= 200 )) || fail "the dataset has $IMAGES images, expected at least 200"
log "dataset: $IMAGES $SOURCE images in $(find "$DATA" -mindepth 1 -maxdepth 1 -type d | wc -l) classes"

start=$(date +%s.%N)
bounded 600 $FINETUNE embed --data "$DATA" --backbone "$BACKBONE" --cache-dir "$T/unsharded" --shard none \
  --offline --device cpu --threads 1 --quiet >"$T/unsharded.out"
log "unsharded reference (1 process, 1 thread, outside Slurm): $(head -1 "$T/unsharded.out") [wall $(since "$start") s]"

# --- helpers for jobs ----------------------------------------------------------------------------------------------
# Submits the project's sbatch script from $T/job (its --output=logs/… lands in $T/job/logs). The overrides are what
# this 2-CPU node needs: 1 CPU and 1 GB per task (the script asks for 4 and 8G), the shard count, and the paths.
submit() {  # submit <array> <cache dir>
  (cd "$T/job" && sbatch --parsable --array="$1" --cpus-per-task=1 --mem=1G \
    --export="ALL,FINETUNE_SHARD_COUNT=$SHARDS,DATA=$DATA,BACKBONE=$BACKBONE,CACHE_DIR=$2,DEVICE=cpu,FINETUNE=$FINETUNE" \
    "$SBATCH_SCRIPT")
}
# Waits until no task of job $1 is queued or running; fails on a deadline or a task stuck on its configuration.
wait_job() {
  local job=$1 cap=${2:-600} until=$(( $(date +%s) + ${2:-600} )) queue
  while true; do
    queue=$(squeue -h -j "$job" -o '%i %T %r' 2>/dev/null || true)
    [ -z "$queue" ] && return 0
    if grep -qE 'PartitionConfig|BadConstraints|ReqNodeNotAvail|Invalid' <<<"$queue"; then
      fail "job $job cannot run on this cluster: $queue"
    fi
    (( $(date +%s) < until && $(left) > 0 )) || fail "job $job still queued/running after ${cap}s: $queue"
    sleep 1
  done
}
# "K STATE EXIT" per array task of job $1, sorted by K (scontrol keeps finished jobs for MinJobAge).
task_states() {
  scontrol -o show job "$1" | sed -E 's/.*ArrayTaskId=([0-9]+).* JobState=([A-Z_]+).* ExitCode=([0-9:]+).*/\1 \2 \3/' | sort -n
}
vector_count() {  # vectors in a cache file, 0 when absent or locked
  [ -f "$1" ] || { echo 0; return; }
  sqlite3 -readonly "file:$1?mode=ro" 'select count(*) from vectors' 2>/dev/null || echo 0
}
show_logs() {  # prints the sbatch output of each task of job $1
  for f in "$T/job/logs/embed-$1"_*.out; do echo "----- $(basename "$f")"; sed 's/^/    /' "$f"; done
}
# Byte-for-byte comparison of two caches: `finetune cache export` of the dataset (rows in dataset order), then cmp.
compare_with_unsharded() {  # compare_with_unsharded <merged cache dir> <label>
  rm -rf "$T/export-a" "$T/export-b"
  bounded 120 $FINETUNE cache export --cache-dir "$T/unsharded" --data "$DATA" --out "$T/export-a" --quiet >/dev/null
  bounded 120 $FINETUNE cache export --cache-dir "$1" --data "$DATA" --out "$T/export-b" --quiet >/dev/null
  for f in features.npy labels.npy files.txt classes.txt; do
    cmp "$T/export-a/$f" "$T/export-b/$f" || fail "$2: $f differs between the merged and the unsharded cache"
  done
  # And the raw rows: every (image sha256, vector bytes) pair of the two cache files.
  local dump='select image_sha, hex(vector) from vectors order by image_sha'
  local a b
  a=$(sqlite3 -readonly "$T/unsharded/embeddings.sqlite" "$dump" | sha256sum | cut -c1-16)
  b=$(sqlite3 -readonly "$1/embeddings.sqlite" "$dump" | sha256sum | cut -c1-16)
  [ "$a" = "$b" ] || fail "$2: the vectors table differs (sha256 of the rows $a vs $b)"
  log "$2: merged == unsharded, byte for byte: features.npy $(stat -c %s "$T/export-b/features.npy") bytes" \
    "($(sha256sum <"$T/export-b/features.npy" | cut -c1-16)), $(sqlite3 "$1/embeddings.sqlite" 'select count(*) from vectors') vectors (rows sha256 $b)"
}

# --- 1. the 4-task array ------------------------------------------------------------------------------------------
start=$(date +%s.%N)
JOB=$(submit "0-$((SHARDS - 1))" "$T/shards") || fail "sbatch refused the job"
log "submitted job $JOB: sbatch --array=0-$((SHARDS - 1)) --cpus-per-task=1 --mem=1G slurm-embed.sbatch"
wait_job "$JOB" 600
wall=$(since "$start")
show_logs "$JOB"
states=$(task_states "$JOB")
echo "$states" | sed 's/^/    task /'
[ "$(grep -c ' COMPLETED 0:0$' <<<"$states")" = "$SHARDS" ] || fail "not every task of job $JOB completed: $states"
log "all $SHARDS array tasks completed in $wall s (submit to last exit, 2 tasks at a time on 2 CPUs)"
log "per-worker extraction (1 CPU, --threads 1; process start excluded): $(grep -hoE 'shard [0-9]+/[0-9]+: [0-9]+ of|\([0-9.]+ img/s\)' "$T/job/logs/embed-${JOB}"_*.out | paste -sd' ' | sed -E 's/ of \(/ images at /g; s/\) /, /g; s/\)//g')"

bounded 120 $FINETUNE cache status --cache-dir "$T/shards" --data "$DATA" --backbone "$BACKBONE" --offline | tee "$T/status.out"
[ "$(grep -cw complete "$T/status.out")" -ge "$SHARDS" ] || fail "cache status does not show $SHARDS complete shards"
bounded 120 $FINETUNE cache merge --cache-dir "$T/shards" --out "$T/merged" --data "$DATA" | tee "$T/merge.out" \
  || fail "cache merge exited non-zero"

# --- 2. training on the merged cache computes nothing ---------------------------------------------------------------
bounded 300 $FINETUNE train --backbone "$BACKBONE" --data "$DATA" --cache-dir "$T/merged" --offline --device cpu \
  --out "$T/run" --epochs 20 --json >"$T/train.json" 2>"$T/train.err" || { cat "$T/train.err"; fail "training failed"; }
computed=$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const c=r.cache;console.log(`${c.computed} ${c.backboneBatches} ${c.hits}`)' "$T/train.json")
read -r n_computed n_batches n_hits <<<"$computed"
[ "$n_computed" = 0 ] && [ "$n_batches" = 0 ] || fail "training on the merged cache computed $n_computed images in $n_batches backbone batches"
log "training on the merged cache: $n_hits cache hits, 0 computed, 0 backbone batches"

# --- 3. equal to the unsharded run ----------------------------------------------------------------------------------
compare_with_unsharded "$T/merged" "job $JOB"

# --- 4. fault case: scancel one task mid-shard, status names it, resubmit only that index ---------------------------
K=$((SHARDS - 1))                      # the last task starts after two others finish: time to catch it mid-run
# Cancels task K once its shard file holds a vector; returns 1 when the task finished first (a fast machine).
cancel_mid_run() {  # cancel_mid_run <job> <shard file>
  local n state until=$(( $(date +%s) + 300 ))
  while true; do
    n=$(vector_count "$2")
    if (( n > 0 )); then
      scancel "${1}_$K"
      log "scancel ${1}_$K with $n vectors in its shard file"
      return 0
    fi
    state=$(squeue -h -j "${1}_$K" -o %T 2>/dev/null || true)
    [ -n "$state" ] || return 1
    (( $(date +%s) < until )) || fail "task ${1}_$K never wrote a vector (state $state)"
    sleep 0.05
  done
}
for attempt in 1 2 3; do
  FAULT_CACHE=$T/fault-shards-$attempt
  SHARD_FILE=$FAULT_CACHE/embeddings.shard-$K-of-$SHARDS.sqlite
  JOB2=$(submit "0-$((SHARDS - 1))" "$FAULT_CACHE") || fail "sbatch refused the fault-case job"
  log "fault case: submitted job $JOB2; will scancel task ${JOB2}_$K once its shard file holds a vector"
  cancel_mid_run "$JOB2" "$SHARD_FILE" && break
  (( attempt < 3 )) || fail "task $K finished before it could be cancelled mid-run, 3 times (raise SLURM_TEST_IMAGES_PER_CLASS)"
  log "task ${JOB2}_$K finished before it could be cancelled; again with a fresh cache folder"
  wait_job "$JOB2" 600
done
wait_job "$JOB2" 600
show_logs "$JOB2"
states=$(task_states "$JOB2")
echo "$states" | sed 's/^/    task /'
grep -qE "^$K CANCELLED" <<<"$states" || fail "task $K of job $JOB2 is not CANCELLED: $states"
cancelled_vectors=$(vector_count "$SHARD_FILE")

bounded 120 $FINETUNE cache status --cache-dir "$FAULT_CACHE" --data "$DATA" --backbone "$BACKBONE" --offline | tee "$T/status2.out" || true
grep -E "(^|[^0-9])$K/$SHARDS([^0-9]|$)|shard $K\b|^ *$K " "$T/status2.out" | grep -qiE 'unfinished|missing' \
  || fail "cache status does not name shard $K as unfinished or missing"
set +e
bounded 120 $FINETUNE cache merge --cache-dir "$FAULT_CACHE" --out "$T/fault-merged" | tee "$T/merge2.out"
code=${PIPESTATUS[0]}
set -e
[ "$code" = 1 ] || fail "cache merge with shard $K unfinished exited $code, expected 1"
grep -qE "\b$K\b" "$T/merge2.out" || fail "cache merge does not name shard $K"
log "with task $K cancelled: status names shard $K, merge exits 1 naming it ($cancelled_vectors of its vectors kept)"

JOB3=$(submit "$K" "$FAULT_CACHE") || fail "sbatch refused the rerun"
log "resubmitted only shard $K: job $JOB3 (sbatch --array=$K)"
wait_job "$JOB3" 600
show_logs "$JOB3"
states=$(task_states "$JOB3")
echo "$states" | sed 's/^/    task /'
[ "$(grep -c ' COMPLETED 0:0$' <<<"$states")" = 1 ] || fail "the rerun of shard $K did not complete: $states"
grep -q "shard $K/$SHARDS" "$T/job/logs/embed-${JOB3}_$K.out" || fail "the rerun did not embed shard $K/$SHARDS"
resumed=$(grep -oE '[0-9]+ from cache' "$T/job/logs/embed-${JOB3}_$K.out" | head -1 | cut -d' ' -f1)
(( ${resumed:-0} >= cancelled_vectors )) || fail "the rerun reused $resumed vectors, the cancelled task had stored $cancelled_vectors"
bounded 120 $FINETUNE cache merge --cache-dir "$FAULT_CACHE" --out "$T/fault-merged" --data "$DATA" | tee "$T/merge3.out" \
  || fail "cache merge after the rerun exited non-zero"
compare_with_unsharded "$T/fault-merged" "fault case (job $JOB2 + rerun $JOB3)"
log "rerun of shard $K resumed: $resumed vectors from its cache file"
