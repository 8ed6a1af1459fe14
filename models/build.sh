#!/usr/bin/env bash
# Rebuilds every bundled model from source: corpus -> tokenizer -> data -> training -> export (HF
# checkpoints: model.safetensors) -> graphs (Hasten's graph builder, npx tsx models/toolchain/graphs.ts)
# -> evaluation -> manifest -> parity tests. Fixed seeds throughout.
#
#   bash models/build.sh                 # everything (about 2.5 hours on 2 CPU cores)
#   bash models/build.sh --from export   # resume at a stage (corpus tokenizer prep train export graphs evaluate classifier manifest check)
#   npx tsx models/toolchain/graphs.ts && node models/toolchain/manifest.mjs   # only the ONNX graphs, from the committed checkpoints (seconds)
#   bash models/build.sh --device cuda   # train on a GPU
#   bash models/build.sh --retrain-tokenizer   # train a new BPE vocabulary in the tokenizer stage. Without it the stage
#                                        # copies models/hasten-target/tokenizer{,_config}.json into .work/tokenizer and
#                                        # checks its sha256 (the shipped weights depend on the shipped vocabulary;
#                                        # same as `node models/toolchain/tokenizer.mjs [--retrain]`)
#   bash models/build.sh --from gguf     # only the optional gguf stage (also: --gguf adds it to a full run):
#                                        # llama GGUFs of the causal models in models/.work/gguf/, for the
#                                        # llama.cpp benchmark peer; converted again when their sources change
#
# Training resumes from models/.work/ckpt/*.pt; delete that folder to retrain from scratch.
set -euo pipefail
cd "$(dirname "$0")"
PY=/usr/bin/python3
FROM=corpus
DEVICE=cpu
GGUF=0
TOKENIZER_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --from) FROM=$2; shift 2 ;;
    --device) DEVICE=$2; shift 2 ;;
    --gguf) GGUF=1; shift ;;
    --retrain-tokenizer) TOKENIZER_ARGS=(--retrain); shift ;;
    *) echo "build.sh: unknown argument $1 (see the header of models/build.sh)" >&2; exit 2 ;;
  esac
done
STAGES=(corpus tokenizer prep train export graphs evaluate classifier manifest check gguf)
[ "$FROM" = gguf ] && GGUF=1
[[ " ${STAGES[*]} " == *" $FROM "* ]] || { echo "build.sh: --from must be one of: ${STAGES[*]}" >&2; exit 2; }

fail() { echo "build.sh: $*" >&2; exit 1; }
if [ "$FROM" != gguf ]; then # the gguf stage needs only node
  [ -x "$PY" ] || fail "/usr/bin/python3 is missing: apt-get install python3"
  "$PY" -c 'import torch' 2>/dev/null || fail "PyTorch is missing: apt-get install python3-torch libopenblas0-pthread"
  "$PY" -c 'import onnx' 2>/dev/null || fail "the onnx package is missing: apt-get install python3-onnx"
  "$PY" -c 'import numpy' 2>/dev/null || fail "numpy is missing: apt-get install python3-numpy"
  # grep reads all of ldconfig's output: with -q it stops at the first match and pipefail sees SIGPIPE (141)
  ldconfig -p | grep libopenblas >/dev/null || fail "OpenBLAS is missing (training would be ~20x slower): apt-get install libopenblas0-pthread"
fi
[ -d ../node_modules/@huggingface/tokenizers ] || fail "node modules are missing: run 'ONNXRUNTIME_NODE_INSTALL=skip npm ci' at the repository root"

mkdir -p .work
TIMES=.work/build-times.txt
started=0
stage() {
  local name=$1; shift
  [ "$name" = "$FROM" ] && started=1
  [ $started = 1 ] || return 0
  echo "== $name"
  local t0=$SECONDS
  "$@"
  echo "$name $((SECONDS - t0))s" | tee -a "$TIMES"
}
train_all() {
  for m in target draft-s draft-m cmlm; do "$PY" toolchain/train.py --model "$m" --device "$DEVICE"; done
}
check() {
  (cd .. && node --import tsx --test test/unit/models.test.ts test/unit/transformersjs.test.ts)
}

stage corpus node toolchain/corpus.mjs
stage tokenizer node toolchain/tokenizer.mjs "${TOKENIZER_ARGS[@]}"
stage prep node toolchain/prep.mjs
stage train train_all
stage export "$PY" toolchain/export.py
stage graphs npx tsx toolchain/graphs.ts
stage evaluate "$PY" toolchain/evaluate.py
stage classifier "$PY" toolchain/exit_classifier.py # CALM's learned exit classifier for the target (exit_classifier.safetensors)
stage manifest node toolchain/manifest.mjs
stage check check
if [ $GGUF = 1 ]; then stage gguf npx tsx toolchain/gguf.mjs --cache hasten-target hasten-draft-m hasten-draft-s; fi
echo "build.sh: done; stage times in models/$TIMES"
