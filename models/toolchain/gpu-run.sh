#!/usr/bin/env bash
# One prepared training run on a lent GPU machine (the workplace's `device` tool; models/README.md, "Training on a
# GPU"), with the same toolchain as on the CPU: the target continues from its shipped weights, the CMLM from its own
# alongside it (the GPU has room for both), then both drafts are distilled from the new target side by side. The
# packed checkpoints (fp16 weights and their training record) and the logs land in OUTDIR, for carry.py unpack here.
#
#   bash models/toolchain/gpu-run.sh OUTDIR [TARGET_MIN] [DRAFT_MIN] [CMLM_MIN]
#
# Needs data parts in models/.gpu (carry.py data; earlier calls' parts in $HASTEN_GPU_STAGE) and the shipped model.safetensors/config.json of each model. Every
# training process has a wall-time budget (train.py --minutes) and an outer timeout, and train.py checkpoints every
# three minutes, so a run cut short still packs what it has.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: gpu-run.sh OUTDIR [TARGET_MIN] [DRAFT_MIN] [CMLM_MIN]}
TM=${2:-4.5}
DM=${3:-1.5}
CM=${4:-6.5}
BT=${HASTEN_GPU_BATCH_TOKENS:-65536}  # tokens a step for the causal models (8x the CPU's 8,192)
CB=${HASTEN_GPU_CMLM_BATCH:-192}      # CMLM samples a step (8x the CPU's 24)
PY=${PYTHON:-python3}  # there: the image's python3, which holds PyTorch
export HASTEN_MODELS_WORK=${HASTEN_MODELS_WORK:-/tmp/hasten-work} PYTHONUNBUFFERED=1
LOGS=$HASTEN_MODELS_WORK/logs
mkdir -p "$OUT" "$LOGS"
T0=$SECONDS
say() { echo "gpu-run: [$((SECONDS - T0))s] $*"; }
finish() {
  say "packing"
  "$PY" toolchain/carry.py pack "$OUT" target draft-s draft-m cmlm
  cp "$HASTEN_MODELS_WORK"/ckpt/*.log.jsonl "$LOGS"/ 2>/dev/null
  tar -czf "$OUT/logs.tgz" -C "$LOGS" .
  say "done"
}
trap finish EXIT
secs() { "$PY" -c "print(int(float('$1') * 60 + 90))"; }

DEV=${HASTEN_GPU_RUN_DEVICE:-cuda}  # cpu: a dry run of the whole script here (minutes given as fractions)
[ "$DEV" = cuda ] && { nvidia-smi -L; "$PY" -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))' || exit 1; }
# Data parts an earlier call on this machine left (the tree travels with at most 64 MiB a call; a warm machine keeps
# what the last call wrote), beside the ones this call carried in models/.gpu.
STAGE=${HASTEN_GPU_STAGE:-/tmp/hasten-stage}
mkdir -p .gpu
if compgen -G "$STAGE/*.xz" >/dev/null; then cp "$STAGE"/*.xz .gpu/; fi
"$PY" toolchain/carry.py unpack-data || exit 1
say "data ready"
# The fused attention kernel (model.Attention on CUDA) against the CPU's query blocks, fp32, random inputs.
[ "$DEV" = cuda ] && { "$PY" - <<'EOF' || { export HASTEN_ATTN=blocks; say "fused attention disagrees: query blocks instead"; }; }
import sys, torch
sys.path.insert(0, 'toolchain')
from model import Attention, Config, rope_cos_sin
from specs import SPECS
c = Config(**SPECS['target']['config'])
torch.manual_seed(0)
att, x = Attention(c), torch.randn(2, 1024, c.hidden_size)
cos, sin = rope_cos_sin(torch.arange(1024)[None], c.head_dim, c.rope_theta)
ref = att(x, cos, sin, 256)[0]
got = att.cuda()(x.cuda(), cos.cuda(), sin.cuda(), 256)[0].cpu()
err = ((got - ref).norm() / ref.norm()).item()
print(f'gpu-run: fused attention vs query blocks: relative error {err:.2e}')
sys.exit(0 if err < 1e-3 else 1)
EOF

# The CMLM: samples of ~150 tokens. Its batches are built on the CPU (train.cmlm_batch).
timeout "$(secs "$CM")" "$PY" toolchain/train.py --model cmlm --device "$DEV" --minutes "$CM" --steps 20000 \
  --batch "$CB" --threads 4 > "$LOGS/cmlm.log" 2>&1 &

# The target: by default 64 windows of 1,024 tokens a step, at a peak learning rate raised from 1.5e-3 to 2e-3.
timeout "$(secs "$TM")" "$PY" toolchain/train.py --model target --device "$DEV" --minutes "$TM" --steps 8000 \
  --batch-tokens "$BT" --lr 2e-3 --threads 4 2>&1 | tee "$LOGS/target.log" | grep -E 'train: (target|resumed|\{)' | tail -n 40
say "target finished"

for m in draft-s draft-m; do
  timeout "$(secs "$DM")" "$PY" toolchain/train.py --model "$m" --device "$DEV" --minutes "$DM" --steps 4000 \
    --batch-tokens "$BT" --threads 4 > "$LOGS/$m.log" 2>&1 &
done
wait
say "all finished"
for f in cmlm draft-s draft-m; do grep -E 'done|Error|error' "$LOGS/$f.log" | tail -n 3; done
