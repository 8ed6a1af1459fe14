"""Moves a training run between this machine and a lent GPU machine (the workplace's `device` tool), whose whole
working tree travels with at most 64 MiB and whose files come back at most 16 MiB each. models/toolchain/gpu-run.sh
is the run itself; models/README.md ("Training on a GPU") says how the pieces fit.

    /usr/bin/python3 models/toolchain/carry.py data [--start S] [--tokens N] [--name NAME]
                                            # here: models/.work/data -> models/.gpu/NAME.xz (default: all, data.xz)
    python3 models/toolchain/carry.py unpack-data                    # there: models/.gpu/*.xz -> $HASTEN_MODELS_WORK/data
    python3 models/toolchain/carry.py pack OUTDIR MODEL...           # there: ckpt/MODEL.pt -> OUTDIR/MODEL.pt (fp16, no optimizer)
    /usr/bin/python3 models/toolchain/carry.py unpack DIR MODEL...   # here: DIR/MODEL.pt -> models/.work/ckpt/MODEL.pt

Each data part is one xz stream of a stretch of train.bin followed by the same stretch of train-plain.bin (the
same chunks in the same order, half of them without the FIM rearrangement): with a dictionary larger than both, the
plain copy costs little more than its differences. A packed checkpoint keeps the weights in fp16 (what ships) and
the training record (`prior`, `tokens`, `step`, `elapsed`); train.py starts a fresh optimizer from it and export.py
records it as the run that last trained the model.
"""
import argparse
import glob
import hashlib
import json
import lzma
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.environ.get('HASTEN_MODELS_WORK') or os.path.join(HERE, '..', '.work')
CARRY = os.path.join(HERE, '..', '.gpu')
DICT = 256 << 20  # larger than the two streams together, so the plain copy finds its FIM twin


def data(start=0, tokens=None, name='data'):
    """train.bin's tokens [start, start + tokens) and the same stretch of train-plain.bin -> models/.gpu/NAME.xz.
    Parts with different names can travel in different calls (a warm machine keeps what an earlier call left)."""
    src = os.path.join(WORK, 'data')
    fim = np.fromfile(os.path.join(src, 'train.bin'), dtype=np.uint16)
    plain = np.fromfile(os.path.join(src, 'train-plain.bin'), dtype=np.uint16)
    ratio = len(plain) / len(fim)  # the same chunks hold fewer tokens without the FIM sentinels
    end = min(len(fim), start + tokens) if tokens else len(fim)
    pa, pb = round(start * ratio), (len(plain) if end == len(fim) else round(end * ratio))
    fim, plain = fim[start:end], plain[pa:pb]
    if 2 * (len(fim) + len(plain)) > DICT:
        sys.exit(f'carry: {len(fim) + len(plain)} tokens are more than the {DICT >> 20} MiB dictionary holds; ask for fewer with --tokens')
    head = {'start': start, 'train': len(fim), 'train-plain': len(plain),
            'sha256': hashlib.sha256(fim.tobytes() + plain.tobytes()).hexdigest()}
    os.makedirs(CARRY, exist_ok=True)
    out = os.path.join(CARRY, f'{name}.xz')
    filters = [{'id': lzma.FILTER_LZMA2, 'preset': 9, 'dict_size': DICT}]
    with lzma.open(out + '.tmp', 'wb', format=lzma.FORMAT_XZ, filters=filters) as f:
        line = (json.dumps(head) + '\n').encode()
        f.write(len(line).to_bytes(4, 'little') + line)
        f.write(fim.tobytes())
        f.write(plain.tobytes())
    os.replace(out + '.tmp', out)
    print(f'carry: {out}: tokens {start}..{end} ({len(fim)} + {len(plain)} tokens, '
          f'{2 * (len(fim) + len(plain)) / 1e6:.1f} MB) in {os.path.getsize(out) / 1e6:.1f} MB')


def unpack_data():
    """Every models/.gpu/*.xz part, in the order of their starts -> $HASTEN_MODELS_WORK/data/train{,-plain}.bin."""
    parts = []
    for file in sorted(glob.glob(os.path.join(CARRY, '*.xz'))):
        with lzma.open(file, 'rb') as f:
            head = json.loads(f.read(int.from_bytes(f.read(4), 'little')))
            fim = f.read(2 * head['train'])
            plain = f.read(2 * head['train-plain'])
        if hashlib.sha256(fim + plain).hexdigest() != head['sha256']:
            sys.exit(f'carry: {file} does not match its checksum; carry it again')
        parts.append((head['start'], fim, plain))
    if not parts:
        sys.exit(f'carry: no data parts in {CARRY}; make them with: carry.py data')
    parts.sort(key=lambda p: p[0])
    dst = os.path.join(WORK, 'data')
    os.makedirs(dst, exist_ok=True)
    for i, name in ((1, 'train'), (2, 'train-plain')):
        with open(os.path.join(dst, f'{name}.bin'), 'wb') as f:
            for part in parts:
                f.write(part[i])
    n = sum(len(p[1]) for p in parts) // 2
    print(f'carry: {len(parts)} parts (starts {[p[0] for p in parts]}), {n} train tokens, into {dst}')


def pack(outdir, models):
    import torch
    os.makedirs(outdir, exist_ok=True)
    for name in models:
        path = os.path.join(WORK, 'ckpt', f'{name}.pt')
        if not os.path.exists(path):
            print(f'carry: {path} is missing; {name} is not packed')
            continue
        state = torch.load(path, map_location='cpu', weights_only=False)
        keep = {k: state[k] for k in ('config', 'spec', 'prior', 'tokens', 'step', 'elapsed', 'precision')}
        keep['model'] = {k: v.half() for k, v in state['model'].items()}
        keep['device'] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu'
        torch.save(keep, os.path.join(outdir, f'{name}.pt'))
        print(f'carry: packed {name}: {state["tokens"] / 1e6:.1f}M tokens in {state["step"]} steps, '
              f'{state["elapsed"] / 60:.1f} min on {keep["device"]}')


def unpack(indir, models):
    import torch
    os.makedirs(os.path.join(WORK, 'ckpt'), exist_ok=True)
    for name in models:
        state = torch.load(os.path.join(indir, f'{name}.pt'), map_location='cpu', weights_only=False)
        state['model'] = {k: v.float() for k, v in state['model'].items()}
        dst = os.path.join(WORK, 'ckpt', f'{name}.pt')
        torch.save(state, dst + '.tmp')
        os.replace(dst + '.tmp', dst)
        print(f'carry: {dst}: {state["tokens"] / 1e6:.1f}M tokens on {state["device"]} '
              f'({(state["prior"]["tokens"] + state["tokens"]) / 1e6:.1f}M in all)')


def main(argv):
    if argv[:1] == ['data']:
        ap = argparse.ArgumentParser(prog='carry.py data')
        ap.add_argument('--start', type=int, default=0)
        ap.add_argument('--tokens', type=int)
        ap.add_argument('--name', default='data')
        a = ap.parse_args(argv[1:])
        return data(a.start, a.tokens, a.name)
    if argv[:1] == ['unpack-data']:
        return unpack_data()
    if argv[:1] == ['pack'] and len(argv) > 2:
        return pack(argv[1], argv[2:])
    if argv[:1] == ['unpack'] and len(argv) > 2:
        return unpack(argv[1], argv[2:])
    sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
