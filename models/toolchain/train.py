"""Trains one of Hasten's bundled models from models/.work/data.

    /usr/bin/python3 models/toolchain/train.py --model target [--device cuda] [--steps N] [--minutes M]
    /usr/bin/python3 models/toolchain/train.py --model target --measure   # throughput: fp32 vs bf16 autocast

Training accumulates across sessions: without a checkpoint, a causal model starts from its shipped weights
(models/hasten-*/model.safetensors, fp16 -> fp32 master weights, fresh AdamW with a warm-up), and the token
count it was trained on so far is carried into config.json and eval.json (`training_tokens_total`).
Checkpoints go to models/.work/ckpt/<model>.pt every few minutes and a run resumes from there, so an
interrupted build loses minutes, not hours. Seeds are fixed: the same steps give the same weights on the
same machine (a --minutes budget ends the run by wall time, which is not reproducible).
On CPUs with native bf16 (avx512_bf16, AMX) the forward and backward run under bf16 autocast; AdamW's master
weights and the losses stay fp32.
"""
import argparse
import contextlib
import json
import math
import os
import sys
import time

# glibc hands every large free block back to the kernel, so each step's fresh multi-hundred-MB activations
# (logits over the vocabulary, attention blocks) were page-faulted in again: 8.2M minor faults and 27% of the CPU
# time in the kernel over a 6-step --measure at 1,024-token windows. Keeping freed memory in the heap (no mmap,
# no trim) took that run from 2,317 to 3,085 tokens/s at the same loss (second generation, fifth session). The
# settings must be in the environment when the process starts, so train.py re-executes itself once with them;
# HASTEN_TRAIN_MALLOC=default keeps glibc's own.
MALLOC_ENV = {'MALLOC_MMAP_MAX_': '0', 'MALLOC_TRIM_THRESHOLD_': str(64 << 30), 'MALLOC_TOP_PAD_': str(256 << 20)}
if (sys.platform.startswith('linux') and os.environ.get('HASTEN_TRAIN_MALLOC') != 'default'
        and any(k not in os.environ for k in MALLOC_ENV)):
    os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, **MALLOC_ENV})

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.environ.get('HASTEN_MODELS_WORK') or os.path.join(HERE, '..', '.work')
sys.path.insert(0, HERE)

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit('train: PyTorch is missing. Install it with: apt-get install python3-torch libopenblas0-pthread')

from model import CMLM, CausalLM, Config, count_params  # noqa: E402
from specs import SPECS, LENGTH_CURRICULUM, PAD, MASK, EOT, FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE  # noqa: E402

FOLDERS = {'target': 'hasten-target', 'draft-s': 'hasten-draft-s', 'draft-m': 'hasten-draft-m', 'cmlm': 'hasten-cmlm'}


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


def causal_loss(model, ids, exit_weight, exit_fraction, gen, block=None, exit_distill=0.0, half_kl=0.0):
    """Final-layer CE on every position plus a LayerSkip-style early-exit loss on a random subset
    of positions at every earlier layer. Layer i weighs min(i, L/2): the weight rises to half depth and stays
    flat after it, so the middle layers (the exits CALM and self-speculation use) are pulled as hard as the
    deep ones (the first rule, weight proportional to depth, left half-depth agreement falling to 55% as the
    last layer improved).

    exit_distill (0..1) moves that share of each exit's loss from the labels to the final layer's own
    distribution (KL(final || exit), the final logits detached): CALM and self-speculation are lossless only
    when an exit agrees with the final layer, so the exits are taught to predict the final layer, not the data
    (since the second generation's fifth session). `agree_half` logs the half-depth exit's argmax agreement
    with the final layer on the sampled positions.

    half_kl adds that weight times KL(final || half-depth exit) on its own (since the second generation's tenth
    session): the half-depth exit is the one self-speculation drafts from and the issue's agreement figure, and under
    the shared per-layer weights it held 4/22 of the exit loss."""
    x, y = ids[:, :-1], ids[:, 1:]
    hs = model.hidden_states(x, block)
    final_logits = model.head(hs[-1]).float().flatten(0, 1)
    final = F.cross_entropy(final_logits, y.flatten())
    if exit_weight == 0 or len(hs) == 1:
        return final, {}
    n = x.numel()
    pick = torch.randperm(n, generator=gen)[: max(1, int(n * exit_fraction))].to(x.device)
    inter = torch.stack([h.flatten(0, 1)[pick] for h in hs[:-1]])  # [L-1, N, d]
    logits = model.head(inter).float()  # [L-1, N, V]
    # One log-softmax serves both losses (each full [L-1, N, V] temporary costs page faults as well as time).
    logq = F.log_softmax(logits, -1)
    per_layer = -logq.gather(-1, y.flatten()[pick].view(1, -1, 1).expand(len(hs) - 1, -1, 1)).squeeze(-1).mean(1)
    teacher = final_logits[pick].detach()
    extra = {}
    half = len(hs) // 2 - 1
    half_term = 0.0
    if exit_distill > 0 or half_kl > 0:
        logp = F.log_softmax(teacher, -1)
        p_final = logp.exp()
        # KL(final || exit) = sum p log p - sum p log q, per layer.
        kl = (p_final * logp).sum(-1).mean() - (logq * p_final).sum(-1).mean(1)
        per_layer = (1 - exit_distill) * per_layer + exit_distill * kl
        if half_kl > 0:
            half_term = half_kl * kl[half]
            extra['kl_half'] = round(kl[half].item(), 4)
    extra['agree_half'] = round((logits[half].argmax(-1) == teacher.argmax(-1)).float().mean().item(), 3)
    w = torch.arange(1, len(hs), dtype=torch.float32, device=per_layer.device).clamp(max=len(hs) // 2)
    w = w / w.sum()
    extra.update({f'exit{i}': round(v, 3) for i, v in enumerate(per_layer.tolist())})
    return final + exit_weight * (w * per_layer).sum() + half_term, extra


def context_runs(body, rate, mean, rng):
    """Positions of `body` hidden in runs of geometric length (mean `mean`, the first at a random place, overlaps
    allowed) until `rate` of it is covered: several more spans per sample, each predicted without its own tokens as
    the infilled span is, instead of single tokens that their neighbours give away."""
    hidden = np.zeros(len(body), dtype=bool)
    while (left := int(round(rate * len(body))) - int(hidden.sum())) > 0:
        start = int(rng.integers(0, len(body)))
        hidden[start:start + min(int(rng.geometric(1 / mean)), left)] = True  # the last run cut to the budget
    return body[hidden]


def cmlm_batch(stream, batch, spec, rng):
    """Builds a padded CMLM batch: context attends to context, the span attends to everything.

    More supervision per sample than plain span masking: a random number of span tokens is masked
    (a quarter of the samples fully, as Mask-Predict's first iteration sees them), and 15% of the
    context tokens are masked and predicted too (`context_mask` in the spec; 0 keeps the first
    generation's span-only loss). With `context_run` (since the second generation's thirteenth session) the context
    is masked in runs of that mean length (`context_runs`) rather than token by token.

    With `shift` in the spec (since the second generation's seventh session) every position is supervised with the
    *next* position's masked token, as the causal target it starts from predicts the next token (the shift of
    DiffuLLaMA and Dream, which adapt autoregressive models into masked ones): the `<|fim_middle|>` position
    predicts the span's first token, span position k its token k + 1, context position j the masked context token
    j + 1. The target's weights then start from predicting the right thing at each position instead of a
    neighbour's."""
    max_span = spec['config']['max_span']
    ctx_rate = spec.get('context_mask', 0.0)
    rows = []
    for _ in range(batch):
        span = int(min(max_span, max(1, rng.geometric(1 / 12))))
        pre = int(rng.integers(8, 192))
        suf = int(rng.integers(0, 64))
        w = stream.windows(1, pre + span + suf)[0]
        prefix, middle, suffix = w[:pre], w[pre:pre + span], w[pre + span:]
        ctx = np.concatenate([[FIM_PREFIX], prefix, [FIM_SUFFIX], suffix, [FIM_MIDDLE]])
        ctx_tgt = np.full(len(ctx), -100)
        if ctx_rate > 0:
            body = np.concatenate([np.arange(1, 1 + pre), np.arange(2 + pre, 2 + pre + suf)])
            run = spec.get('context_run', 0)
            hide = context_runs(body, ctx_rate, run, rng) if run else body[rng.random(len(body)) < ctx_rate]
            ctx_tgt[hide] = ctx[hide]
            ctx = ctx.copy()
            ctx[hide] = MASK
        full = ctx_rate > 0 and rng.random() < 0.25
        n_mask = span if full else int(rng.integers(1, span + 1))
        masked = rng.permutation(span)[:n_mask]
        inp = middle.copy()
        inp[masked] = MASK
        tgt = np.full(span, -100)
        tgt[masked] = middle[masked]
        tgt = np.concatenate([ctx_tgt, tgt])
        if spec.get('shift'):  # position p predicts the token at p + 1; the last position predicts nothing
            tgt = np.concatenate([tgt[1:], [-100]])
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
        targets[b, :n] = tgt
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
    ln = F.cross_entropy(length_logits[torch.arange(ids.shape[0], device=ids.device), mid_pos], spans)
    return tok + 0.1 * ln, {'token': round(tok.item(), 3), 'length': round(ln.item(), 3)}


def lr_at(progress, peak, warmup_frac):
    """Warm-up, a stable phase, then a cosine decay over the last 30% of the run to 10% of the peak.
    `progress` is the fraction of the run done (steps, or wall time under --minutes, whichever is further)."""
    if progress < warmup_frac:
        return peak * max(progress / warmup_frac, 0.02)
    if progress < 0.7:
        return peak
    p = min(1.0, (progress - 0.7) / 0.3)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def window_length(spec, progress):
    """The curriculum's window length at this point of the run (never longer than the spec's `seq`)."""
    length = LENGTH_CURRICULUM[0][1]
    for start, n in LENGTH_CURRICULUM:
        if progress >= start:
            length = n
    return min(length, spec['seq'])


def bf16_supported():
    """bf16 autocast pays on CPUs with native bf16 dot products (avx512_bf16 / amx); elsewhere it is emulated."""
    try:
        flags = open('/proc/cpuinfo').read()
    except OSError:
        return False
    return 'avx512_bf16' in flags or 'amx_bf16' in flags


def autocast(device, precision):
    if precision == 'bf16':
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def read_safetensors(path):
    """name -> fp32 torch tensor, from a safetensors file (F16, BF16 or F32)."""
    with open(path, 'rb') as f:
        n = int.from_bytes(f.read(8), 'little')
        header = json.loads(f.read(n))
        base = 8 + n
        raw = np.memmap(path, dtype=np.uint8, mode='r')
    out = {}
    for name, h in header.items():
        if name == '__metadata__':
            continue
        a, b = h['data_offsets']
        buf = np.array(raw[base + a:base + b])
        if h['dtype'] == 'F16':
            arr = buf.view(np.float16).astype(np.float32)
        elif h['dtype'] == 'F32':
            arr = buf.view(np.float32).copy()
        elif h['dtype'] == 'BF16':
            arr = (buf.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            sys.exit(f'train: {path}: unsupported dtype {h["dtype"]} for {name}')
        out[name] = torch.from_numpy(arr.reshape(h['shape']))
    return out


def shipped(name):
    """The committed model folder's checkpoint (state dict, what it was trained on: `prior_of`), or None. The CMLM's
    folder has one from the export that first writes it (earlier CMLMs shipped ONNX only and train from scratch)."""
    folder = os.path.join(HERE, '..', FOLDERS[name])
    path = os.path.join(folder, 'model.safetensors')
    if not os.path.exists(path):
        return None
    weights = {k[len('model.'):] if k.startswith('model.') else k: v for k, v in read_safetensors(path).items()}
    info = json.load(open(os.path.join(folder, 'config.json'))).get('hasten', {})
    return weights, prior_of(info, f'models/{FOLDERS[name]}/model.safetensors')


def prior_of(info, source):
    """What a shipped model had been trained on, from its config.json `hasten` record (totals, else the
    first generation's single-run figures)."""
    prior = {'tokens': int(info.get('training_tokens_total', info.get('training_tokens', 0))),
             'steps': int(info.get('training_steps_total', info.get('training_steps', 0))),
             'minutes': float(info.get('training_minutes_total', info.get('training_minutes', 0.0))),
             'source': source}
    if 'training_tokens_this_run' in info and 'started_from' in info:  # an export that does not train keeps these
        prior['last_run'] = {'tokens': int(info['training_tokens_this_run']), 'source': info['started_from'],
                             **({'trained_on': info['trained_on']} if 'trained_on' in info else {})}
    return prior


def fits(model, got):
    """Whether a shipped checkpoint (shipped()'s answer) has exactly this model's tensors and shapes."""
    if got is None:
        return False
    own = model.state_dict()
    return set(own) == set(got[0]) and all(own[k].shape == got[0][k].shape for k in own)


def same_convention(name, spec):
    """Whether the shipped model reads its logits as the spec does (the CMLM's `shift`: config.json
    `span_logits_shift`); a CMLM of the other convention starts again from `init_from`."""
    config = json.load(open(os.path.join(HERE, '..', FOLDERS[name], 'config.json')))
    return int(config.get('span_logits_shift', 0)) == int(bool(spec.get('shift')))


def init_weights(name, device):
    """Another model's weights to start from: this session's checkpoint if there is one, else the shipped model."""
    ckpt = os.path.join(WORK, 'ckpt', f'{name}.pt')
    if os.path.exists(ckpt):
        return torch.load(ckpt, map_location=device, weights_only=False)['model'], f'the {name} checkpoint models/.work/ckpt/{name}.pt'
    got = shipped(name)
    if got is None:
        sys.exit(f'train: {name} has neither a checkpoint ({ckpt}) nor a shipped model.safetensors to start from')
    return got[0], f'models/{FOLDERS[name]}/model.safetensors ({got[1]["tokens"] / 1e6:.2f}M tokens)'


def load_teacher(name, device):
    """The teacher for distillation: this session's checkpoint if there is one, else the shipped model."""
    spec = SPECS[name]
    model = CausalLM(Config(**spec['config'])).to(device)
    ckpt = os.path.join(WORK, 'ckpt', f'{name}.pt')
    if os.path.exists(ckpt):
        model.load_state_dict(torch.load(ckpt, map_location=device, weights_only=False)['model'])
        src = ckpt
    else:
        got = shipped(name)
        if got is None:
            sys.exit(f'train: the teacher {name} has neither a checkpoint ({ckpt}) nor a shipped model.safetensors')
        model.load_state_dict(got[0])
        src = f'models/{FOLDERS[name]}/model.safetensors'
    with torch.no_grad():  # the teacher the draft will serve is the fp16-stored one
        for p in model.parameters():
            p.copy_(p.half().float())
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    print(f'train: teacher {name} from {src}')
    return model


def distill_loss(model, teacher, ids, precision, device, ce_weight=0.1, block=None):
    """Forward KL from the teacher's next-token distribution on every position, plus a little plain CE."""
    x, y = ids[:, :-1], ids[:, 1:]
    with torch.no_grad(), autocast(device, precision):
        t_logits = teacher.head(teacher.hidden_states(x, block)[-1])
    t_logp = F.log_softmax(t_logits.float(), -1).flatten(0, 1)
    with autocast(device, precision):
        logits = model.head(model.hidden_states(x, block)[-1])
    logp = F.log_softmax(logits.float(), -1).flatten(0, 1)
    kl = (t_logp.exp() * (t_logp - logp)).sum(-1).mean()
    ce = F.nll_loss(logp, y.flatten())
    agree = (logp.argmax(-1) == t_logp.argmax(-1)).float().mean()
    return kl + ce_weight * ce, {'kl': round(kl.item(), 4), 'ce': round(ce.item(), 4), 'agree': round(agree.item(), 3)}


class Timer:
    """Wall time per phase of a training step (data, forward, backward, optimizer)."""

    def __init__(self):
        self.t = {}

    @contextlib.contextmanager
    def __call__(self, name):
        t0 = time.perf_counter()
        yield
        self.t[name] = self.t.get(name, 0.0) + time.perf_counter() - t0


def make_step(model, opt, spec, args, stream, rng, gen, teacher):
    """One optimisation step; returns (loss, extra, tokens, timer phases)."""
    tm = Timer()
    with tm('data'):
        if spec['kind'] == 'cmlm':
            batch = [b.to(args.device) for b in cmlm_batch(stream, spec['batch'], spec, rng)]
        else:
            length = args.seq or window_length(spec, args.progress)
            bsz = max(1, spec['batch_tokens'] // length)
            ids = torch.from_numpy(stream.windows(bsz, length + 1)).to(args.device)
    with tm('forward'):
        if spec['kind'] == 'cmlm':
            with autocast(args.device, args.precision):
                loss, extra = cmlm_loss(model, batch)
            tokens = int(batch[0].numel())
        elif teacher is not None:
            loss, extra = distill_loss(model, teacher, ids, args.precision, args.device, block=args.attn_block)
            tokens = bsz * length
        else:
            with autocast(args.device, args.precision):
                loss, extra = causal_loss(model, ids, spec.get('exit_weight', 0.0), 0.1, gen, args.attn_block,
                                          spec.get('exit_distill', 0.0), spec.get('half_kl', 0.0))
            tokens = bsz * length
    with tm('backward'):
        opt.zero_grad(set_to_none=True)
        loss.backward()
    with tm('optimizer'):
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return loss, extra, tokens, tm.t


def build(args, spec):
    cfg = Config(**spec['config'])
    torch.manual_seed(spec['seed'])
    model = (CMLM if spec['kind'] == 'cmlm' else CausalLM)(cfg).to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=spec['lr'], betas=(0.9, 0.95), weight_decay=0.1)
    stream_file = 'train-plain.bin' if spec['kind'] == 'cmlm' else 'train.bin'
    stream = Stream(os.path.join(WORK, 'data', stream_file), spec['seed'])
    rng = np.random.default_rng(spec['seed'] + 1)
    gen = torch.Generator().manual_seed(spec['seed'] + 2)
    return cfg, model, opt, stream, rng, gen


def measure(args, spec):
    """Training throughput of one model, fp32 against bf16 autocast, on identical batches from the same start.
    Writes models/.work/throughput-<model>-<window>-block<n>.json; models/README.md quotes it."""
    results = {}
    for precision in ((args.precision,) if args.precision_given else ('fp32', 'bf16')):
        args.precision = precision
        cfg, model, opt, stream, rng, gen = build(args, spec)
        got = shipped(args.model)
        if got:
            model.load_state_dict(got[0], strict=False)
        for g in opt.param_groups:
            g['lr'] = spec['lr'] * 0.2
        losses, phases, tokens, t_all = [], {}, 0, 0.0
        for i in range(args.measure_steps + 3):
            t0 = time.perf_counter()
            loss, _, n, tm = make_step(model, opt, spec, args, stream, rng, gen, None)
            if i >= 3:  # the first steps pay one-off allocations
                t_all += time.perf_counter() - t0
                tokens += n
                for k, v in tm.items():
                    phases[k] = phases.get(k, 0.0) + v
                losses.append(loss.item())
        results[precision] = {'tokens_per_s': round(tokens / t_all), 'steps': len(losses), 'window': args.seq,
                              'batch_tokens': spec.get('batch_tokens'), 'mean_loss': round(float(np.mean(losses)), 4),
                              'phase_share': {k: round(v / t_all, 3) for k, v in phases.items()}}
        print(f'train: measure {args.model} {precision}: {json.dumps(results[precision])}', flush=True)
    if 'fp32' in results and 'bf16' in results:
        results['bf16_speedup'] = round(results['bf16']['tokens_per_s'] / results['fp32']['tokens_per_s'], 2)
    results['threads'] = args.threads
    results['attn_block'] = args.attn_block
    out = os.path.join(WORK, f'throughput-{args.model}-{args.seq}-block{args.attn_block}.json')
    with open(out, 'w') as f:
        json.dump(results, f, indent=1)
    print(f'train: wrote {out}')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', required=True, choices=sorted(SPECS))
    ap.add_argument('--steps', type=int, help='override the spec step count')
    ap.add_argument('--minutes', type=float, help='a wall-time budget: the schedule runs on whichever of steps or time is further along, and training ends at either')
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--precision', choices=['fp32', 'bf16'], help='default: bf16 autocast where the CPU has native bf16 (or on CUDA), else fp32')
    ap.add_argument('--fresh', action='store_true', help='start from random weights: ignore the checkpoint and the shipped model')
    ap.add_argument('--measure', action='store_true', help='measure throughput (fp32 vs bf16 on identical batches) and exit')
    ap.add_argument('--measure-steps', type=int, default=12)
    ap.add_argument('--seq', type=int, help='a fixed window length instead of the curriculum')
    ap.add_argument('--lr', type=float, help="override the spec's peak learning rate (e.g. a gentler continuation of a model that has plateaued)")
    ap.add_argument('--batch-tokens', type=int, help="override the spec's tokens per step (causal models; a GPU wants far more than a CPU)")
    ap.add_argument('--batch', type=int, help="override the spec's samples per step (the CMLM)")
    ap.add_argument('--attn-block', type=int, default=256, help='causal attention in query blocks of this many rows (0: one T x T score tensor, the old path)')
    args = ap.parse_args()
    if args.device == 'cuda' and not torch.cuda.is_available():
        sys.exit('train: --device cuda requested but torch sees no CUDA device')
    torch.set_num_threads(args.threads)
    check_blas()
    spec = SPECS[args.model]
    spec = {**spec, **{k: v for k, v in (('lr', args.lr), ('batch_tokens', args.batch_tokens), ('batch', args.batch)) if v}}
    args.precision_given = bool(args.precision)
    args.precision = args.precision or ('bf16' if args.device == 'cuda' or bf16_supported() else 'fp32')
    args.progress = 0.0
    if args.measure:
        args.seq = args.seq or 256
        return measure(args, spec)
    steps = args.steps or spec['steps']
    cfg, model, opt, stream, rng, gen = build(args, spec)
    ckpt_dir = os.path.join(WORK, 'ckpt')
    os.makedirs(ckpt_dir, exist_ok=True)
    ckpt = os.path.join(ckpt_dir, f'{args.model}.pt')
    step, elapsed, tokens = 0, 0.0, 0
    prior = {'tokens': 0, 'steps': 0, 'minutes': 0.0, 'source': 'random initialisation'}
    state = torch.load(ckpt, map_location=args.device, weights_only=False) if os.path.exists(ckpt) and not args.fresh else None
    if state is not None and 'opt' not in state:
        # A packed checkpoint (carry.py unpack: weights and training record, no optimizer, e.g. from a GPU run): this
        # run starts from its weights with a fresh optimizer, and its run is added to what the weights had seen.
        model.load_state_dict(state['model'])
        p = state['prior']
        prior = {'tokens': p['tokens'] + state['tokens'], 'steps': p['steps'] + state['step'],
                 'minutes': p['minutes'] + state['elapsed'] / 60, 'source': f'the packed checkpoint {ckpt}'}
        print(f'train: {args.model} starts from the packed checkpoint {ckpt} ({prior["tokens"] / 1e6:.2f}M tokens so far)')
    elif state is not None:
        model.load_state_dict(state['model'])
        opt.load_state_dict(state['opt'])
        step, elapsed, tokens = state['step'], state['elapsed'], state['tokens']
        prior = state.get('prior', prior)
        stream.rng.bit_generator.state = state['stream_rng']
        rng.bit_generator.state = state['rng']
        gen.set_state(state['gen'])
        print(f'train: resumed {args.model} at step {step}')
    elif not args.fresh and (got := shipped(args.model)) and (fits(model, got) and same_convention(args.model, spec)
                                                              or not spec.get('init_from')):
        # Training accumulates across sessions: start from the shipped weights (fp16 -> fp32 master),
        # with a fresh optimizer (the schedule's warm-up re-grows its moments).
        missing, unexpected = model.load_state_dict(got[0], strict=False)
        if missing or unexpected:
            sys.exit(f'train: the shipped {FOLDERS[args.model]} does not match the spec (missing {missing}, unexpected {unexpected}); '
                     'use --fresh to train from scratch')
        prior = got[1]
        print(f'train: {args.model} starts from the shipped weights ({prior["tokens"] / 1e6:.2f}M tokens so far)')
    elif not args.fresh and spec.get('init_from'):
        # A new shape initialised from another model (the CMLM from the target): every tensor of the same name and
        # shape is taken, the rest (the length head) keeps its random initialisation.
        src, source = init_weights(spec['init_from'], args.device)
        own = model.state_dict()
        take = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(take, strict=False)
        print(f'train: {args.model} starts from {source} ({len(take)} of {len(own)} tensors; new: {sorted(set(own) - set(take))})')
        prior = {**prior, 'source': f'initialised from {source}'}
    teacher = load_teacher(spec['teacher'], args.device) if spec.get('teacher') else None
    budget = args.minutes * 60 if args.minutes else None
    print(f'train: {args.model}: {count_params(model) / 1e6:.2f}M params, {steps} steps'
          f'{f", at most {args.minutes} min" if budget else ""}, device {args.device}, {args.precision}, threads {args.threads}')
    log = open(os.path.join(ckpt_dir, f'{args.model}.log.jsonl'), 'a')
    started = elapsed

    def save():
        torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'step': step, 'elapsed': elapsed,
                    'tokens': tokens, 'stream_rng': stream.rng.bit_generator.state, 'rng': rng.bit_generator.state,
                    'gen': gen.get_state(), 'config': cfg.to_dict(), 'spec': spec, 'prior': prior,
                    'precision': args.precision}, ckpt + '.tmp')
        os.replace(ckpt + '.tmp', ckpt)

    last_save = time.time()
    model.train()
    warmup_frac = spec['warmup'] / steps

    def progress():
        p = step / steps
        if budget:
            p = max(p, (elapsed - started) / budget)
        return p

    while progress() < 1.0:
        t0 = time.time()
        args.progress = progress()
        for g in opt.param_groups:
            g['lr'] = lr_at(args.progress, spec['lr'], warmup_frac)
        loss, extra, n, _ = make_step(model, opt, spec, args, stream, rng, gen, teacher)
        tokens += n
        step += 1
        elapsed += time.time() - t0
        if step % 10 == 0:
            rec = {'step': step, 'loss': round(loss.item(), 4), 'tok_s': round(tokens / max(elapsed, 1e-9)), 'elapsed': round(elapsed),
                   'lr': round(opt.param_groups[0]['lr'], 6), **extra}
            if spec['kind'] != 'cmlm':  # the CMLM's samples have their own lengths (cmlm_batch)
                rec['window'] = args.seq or window_length(spec, args.progress)
            log.write(json.dumps(rec) + '\n')
            log.flush()
            if step % 50 == 0:
                print('train:', json.dumps(rec), flush=True)
        if time.time() - last_save > 180:
            save()
            last_save = time.time()
    save()
    print(f'train: {args.model} done: {step} steps, {tokens} tokens this run ({(prior["tokens"] + tokens) / 1e6:.2f}M in all), '
          f'{elapsed / 60:.1f} min, {round(tokens / max(elapsed, 1e-9))} tokens/s')


if __name__ == '__main__':
    main()
