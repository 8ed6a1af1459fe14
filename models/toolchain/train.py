"""Trains one of Hasten's bundled models from models/.work/data.

    /usr/bin/python3 models/toolchain/train.py --model target [--device cuda] [--steps N]

Checkpoints go to models/.work/ckpt/<model>.pt every few minutes and a run resumes from there,
so an interrupted build loses minutes, not hours. Seeds are fixed: the same steps give the same
weights on the same machine.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, '..', '.work')
sys.path.insert(0, HERE)

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit('train: PyTorch is missing. Install it with: apt-get install python3-torch libopenblas0-pthread')

from model import CMLM, CausalLM, Config, count_params  # noqa: E402
from specs import SPECS, PAD, MASK, EOT, FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE  # noqa: E402


def check_blas():
    cfg = torch.__config__.show()
    if 'openblas' not in cfg.lower() and 'mkl' not in cfg.lower():
        print('train: warning: torch has no fast BLAS; install libopenblas0-pthread (training is ~20x slower without it)')


class Stream:
    """Random windows from a uint16 token file, drawn with a seeded generator."""

    def __init__(self, path, seed):
        if not os.path.exists(path):
            sys.exit(f'train: {path} is missing; run models/build.sh (the prep stage) first')
        self.data = np.memmap(path, dtype=np.uint16, mode='r')
        self.rng = np.random.default_rng(seed)

    def windows(self, batch, length):
        starts = self.rng.integers(0, len(self.data) - length - 1, size=batch)
        return np.stack([self.data[s:s + length].astype(np.int64) for s in starts])


def causal_loss(model, ids, exit_weight, exit_fraction, gen):
    """Final-layer CE on every position plus a LayerSkip-style early-exit loss on a random subset
    of positions at every earlier layer (deeper layers weigh more)."""
    x, y = ids[:, :-1], ids[:, 1:]
    hs = model.hidden_states(x)
    final = F.cross_entropy(model.head(hs[-1]).flatten(0, 1), y.flatten())
    if exit_weight == 0 or len(hs) == 1:
        return final, {}
    n = x.numel()
    pick = torch.randperm(n, generator=gen)[: max(1, int(n * exit_fraction))].to(x.device)
    inter = torch.stack([h.flatten(0, 1)[pick] for h in hs[:-1]])  # [L-1, N, d]
    logits = model.head(inter)  # [L-1, N, V]
    per_layer = F.cross_entropy(logits.flatten(0, 1), y.flatten()[pick].repeat(len(hs) - 1), reduction='none')
    per_layer = per_layer.view(len(hs) - 1, -1).mean(1)
    w = torch.arange(1, len(hs), dtype=torch.float32, device=per_layer.device)
    w = w / w.sum()
    return final + exit_weight * (w * per_layer).sum(), {f'exit{i}': round(v, 3) for i, v in enumerate(per_layer.tolist())}


def cmlm_batch(stream, batch, spec, rng):
    """Builds a padded CMLM batch: context attends to context, the span attends to everything."""
    max_span = spec['config']['max_span']
    rows = []
    for _ in range(batch):
        span = int(min(max_span, max(1, rng.geometric(1 / 12))))
        pre = int(rng.integers(8, 192))
        suf = int(rng.integers(0, 64))
        w = stream.windows(1, pre + span + suf)[0]
        prefix, middle, suffix = w[:pre], w[pre:pre + span], w[pre + span:]
        ctx = np.concatenate([[FIM_PREFIX], prefix, [FIM_SUFFIX], suffix, [FIM_MIDDLE]])
        n_mask = int(rng.integers(1, span + 1))
        masked = rng.permutation(span)[:n_mask]
        inp = middle.copy()
        inp[masked] = MASK
        tgt = np.full(span, -100)
        tgt[masked] = middle[masked]
        rows.append((ctx, inp, tgt, span))
    t = max(len(c) + len(i) for c, i, _, _ in rows)
    ids = np.full((batch, t), PAD, dtype=np.int64)
    targets = np.full((batch, t), -100, dtype=np.int64)
    bias = np.full((batch, 1, t, t), np.finfo(np.float32).min, dtype=np.float32)
    mid_pos = np.zeros(batch, dtype=np.int64)
    spans = np.zeros(batch, dtype=np.int64)
    for b, (ctx, inp, tgt, span) in enumerate(rows):
        c, n = len(ctx), len(ctx) + len(inp)
        ids[b, :c], ids[b, c:n] = ctx, inp
        targets[b, c:n] = tgt
        bias[b, 0, :c, :c] = 0
        bias[b, 0, c:n, :n] = 0
        bias[b, 0, n:, n:] = 0  # padding rows attend among themselves; never read
        mid_pos[b], spans[b] = c - 1, span
    pos = np.broadcast_to(np.arange(t), (batch, t)).copy()
    return [torch.from_numpy(a) for a in (ids, pos, bias, targets, mid_pos, spans)]


def cmlm_loss(model, batch):
    ids, pos, bias, targets, mid_pos, spans = batch
    logits, length_logits = model(ids, pos, bias)
    tok = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
    ln = F.cross_entropy(length_logits[torch.arange(ids.shape[0]), mid_pos], spans)
    return tok + 0.1 * ln, {'token': round(tok.item(), 3), 'length': round(ln.item(), 3)}


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', required=True, choices=sorted(SPECS))
    ap.add_argument('--steps', type=int, help='override the spec step count')
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--fresh', action='store_true', help='ignore an existing checkpoint')
    args = ap.parse_args()
    if args.device == 'cuda' and not torch.cuda.is_available():
        sys.exit('train: --device cuda requested but torch sees no CUDA device')
    torch.set_num_threads(args.threads)
    check_blas()
    spec = SPECS[args.model]
    steps = args.steps or spec['steps']
    cfg = Config(**spec['config'])
    torch.manual_seed(spec['seed'])
    model = (CMLM if spec['kind'] == 'cmlm' else CausalLM)(cfg).to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=spec['lr'], betas=(0.9, 0.95), weight_decay=0.1)
    ckpt_dir = os.path.join(WORK, 'ckpt')
    os.makedirs(ckpt_dir, exist_ok=True)
    ckpt = os.path.join(ckpt_dir, f'{args.model}.pt')
    stream_file = 'train-plain.bin' if spec['kind'] == 'cmlm' else 'train.bin'
    stream = Stream(os.path.join(WORK, 'data', stream_file), spec['seed'])
    rng = np.random.default_rng(spec['seed'] + 1)
    gen = torch.Generator().manual_seed(spec['seed'] + 2)
    step, elapsed, tokens = 0, 0.0, 0
    if os.path.exists(ckpt) and not args.fresh:
        state = torch.load(ckpt, map_location=args.device)
        model.load_state_dict(state['model'])
        opt.load_state_dict(state['opt'])
        step, elapsed, tokens = state['step'], state['elapsed'], state['tokens']
        stream.rng.bit_generator.state = state['stream_rng']
        rng.bit_generator.state = state['rng']
        gen.set_state(state['gen'])
        print(f'train: resumed {args.model} at step {step}')
    print(f'train: {args.model}: {count_params(model) / 1e6:.2f}M params, {steps} steps, device {args.device}, threads {args.threads}')
    log = open(os.path.join(ckpt_dir, f'{args.model}.log.jsonl'), 'a')

    def save():
        torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'step': step, 'elapsed': elapsed,
                    'tokens': tokens, 'stream_rng': stream.rng.bit_generator.state, 'rng': rng.bit_generator.state,
                    'gen': gen.get_state(), 'config': cfg.to_dict(), 'spec': spec}, ckpt + '.tmp')
        os.replace(ckpt + '.tmp', ckpt)

    last_save = time.time()
    model.train()
    while step < steps:
        t0 = time.time()
        for g in opt.param_groups:
            g['lr'] = lr_at(step, steps, spec['lr'], spec['warmup'])
        if spec['kind'] == 'cmlm':
            batch = [b.to(args.device) for b in cmlm_batch(stream, spec['batch'], spec, rng)]
            loss, extra = cmlm_loss(model, batch)
            tokens += int(batch[0].numel())
        else:
            ids = torch.from_numpy(stream.windows(spec['batch'], spec['seq'] + 1)).to(args.device)
            loss, extra = causal_loss(model, ids, spec.get('exit_weight', 0.0), 0.1, gen)
            tokens += spec['batch'] * spec['seq']
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        elapsed += time.time() - t0
        if step % 10 == 0 or step == steps:
            rec = {'step': step, 'loss': round(loss.item(), 4), 'tok_s': round(tokens / elapsed), 'elapsed': round(elapsed), **extra}
            log.write(json.dumps(rec) + '\n')
            log.flush()
            if step % 50 == 0 or step == steps:
                print('train:', json.dumps(rec), flush=True)
        if time.time() - last_save > 180 or step == steps:
            save()
            last_save = time.time()
    print(f'train: {args.model} done: {step} steps, {tokens} tokens, {elapsed / 60:.1f} min')


if __name__ == '__main__':
    main()
