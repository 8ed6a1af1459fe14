"""Trains CALM's learned exit classifier for the bundled target (Schuster et al. 2022, section 3.5, "early-exit
classifier"): one logistic regression per layer that may exit (1..L-1) on that layer's hidden state, predicting
whether the layer's greedy token (through the shared final norm and LM head) equals the last layer's.

    /usr/bin/python3 models/toolchain/exit_classifier.py [--tokens 262144] [--hidden 0]

Why: CALM's softmax measure runs the LM head (8,192 x 256, about a block's cost on this target) at every layer
that may exit, so on a target that is seldom confident early the checks cost more than the exits save. The
classifier's check is a dot product over the hidden state the layered runtime already returns to JavaScript; the
head runs once, at the exit.

Features, for layer l's hidden state h (after the block, before the final norm) and the previous layer's p (the
embedding for layer 1), exactly as src/engine/decoders/confidence.ts computes them:
    x = [ h / rms(h) (d values), cosine(h, p) ]       rms(h) = sqrt(mean(h^2) + eps), eps = rms_norm_eps
    score = sigmoid(w_l . x + b_l)
With --hidden N a one-hidden-layer MLP (N ReLU units) per layer instead; it is a comparison only (the runtime
reads the linear file).

Data: windows of models/.work/data/train.bin (the training split, fill-in-the-middle samples included: what the
target was trained on), with the target's fp16-rounded weights as shipped. The report is on windows of
heldout.bin (the held-out split, not the evaluation-only packages): per layer the agreement rate, the classifier's
AUC and, at precisions 0.95 / 0.98 / 0.99, the share of tokens it lets exit, beside the same figures for the
softmax top-1 probability (which costs a head run per check).

With --proxies it trains nothing and rates cheaper softmax checks instead (models/.work/exit_proxies.json): the top-1
probability over the K most frequent training tokens only, or through a rank-R factor of the head.

Output: models/hasten-target/exit_classifier.safetensors (F32: weight [L-1, d+1], bias [L-1]; check.prev,
check.h [L-1, d] and check.score [L-1]: a probe the TypeScript tests recompute) and
models/.work/exit_classifier.json (the report; the figures quoted in docs/early-exit.md).
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..'))
WORK = os.path.join(ROOT, '.work')
sys.path.insert(0, HERE)

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit('exit_classifier: PyTorch is missing. Install it with: apt-get install python3-torch libopenblas0-pthread')

from export import load  # noqa: E402

OUT = os.path.join(ROOT, 'hasten-target', 'exit_classifier.safetensors')
PRECISIONS = (0.95, 0.98, 0.99)


def windows(path, tokens, window, seed):
    data = np.memmap(path, dtype=np.uint16, mode='r')
    if len(data) < window + 1:
        sys.exit(f'exit_classifier: {path} is too short; run models/build.sh --from corpus (through prep) first')
    rng = np.random.default_rng(seed)
    n = max(1, tokens // window)
    starts = rng.integers(0, len(data) - window - 1, size=n)
    return [torch.from_numpy(data[s:s + window].astype(np.int64)) for s in starts]


def features(h, p, eps):
    """[N, d] hidden states of this layer and the previous one -> [N, d + 1] (see the module doc)."""
    rms = torch.sqrt((h * h).mean(-1, keepdim=True) + eps)
    cos = F.cosine_similarity(h, p, dim=-1, eps=1e-12).unsqueeze(-1)
    return torch.cat([h / rms, cos], -1)


@torch.no_grad()
def collect(model, wins, batch):
    """Per exit layer l (1..L-1): features [N, d+1], label (layer l's greedy token == the last layer's), and the
    softmax top-1 probability of layer l's exit."""
    L = model.config.num_hidden_layers
    eps = model.config.rms_norm_eps
    feats = [[] for _ in range(L - 1)]
    labels = [[] for _ in range(L - 1)]
    probs = [[] for _ in range(L - 1)]
    for i in range(0, len(wins), batch):
        ids = torch.stack(wins[i:i + batch])
        hs = [model.embed_tokens(ids)] + model.hidden_states(ids)
        final = model.head(hs[L]).argmax(-1)
        for l in range(1, L):
            logits = model.head(hs[l])
            p = torch.softmax(logits, -1)
            top, arg = p.max(-1)
            d = hs[l].shape[-1]
            feats[l - 1].append(features(hs[l].reshape(-1, d), hs[l - 1].reshape(-1, d), eps))
            labels[l - 1].append((arg == final).reshape(-1).float())
            probs[l - 1].append(top.reshape(-1))
    return [torch.cat(f) for f in feats], [torch.cat(y) for y in labels], [torch.cat(p) for p in probs]


@torch.no_grad()
def proxy_scores(model, wins, batch, proxies, frequent):
    """Per exit layer: the label (as in collect) and, per proxy, a confidence cheaper than the full LM head's softmax:
    'topK' is the top-1 softmax probability over the K most frequent training tokens only (K x d multiply-adds),
    'rankR' over logits through a rank-R factor of the tied embedding (its truncated SVD; R x (d + vocab))."""
    L = model.config.num_hidden_layers
    emb = model.embed_tokens.weight
    heads = {}
    for name in proxies:
        if name.startswith('top'):
            heads[name] = ('subset', emb[frequent[:int(name[3:])]])
        elif name.startswith('rank'):
            u, sv, vh = torch.linalg.svd(emb, full_matrices=False)
            r = int(name[4:])
            heads[name] = ('lowrank', (u[:, :r] * sv[:r], vh[:r]))
        else:
            sys.exit(f'exit_classifier: unknown proxy {name} (topK or rankR)')
    labels = [[] for _ in range(L - 1)]
    scores = {name: [[] for _ in range(L - 1)] for name in proxies}
    for i in range(0, len(wins), batch):
        ids = torch.stack(wins[i:i + batch])
        hs = model.hidden_states(ids)
        final = model.head(hs[L - 1]).argmax(-1)
        for l in range(1, L):
            labels[l - 1].append((model.head(hs[l - 1]).argmax(-1) == final).reshape(-1).float())
            x = model.norm(hs[l - 1])
            for name, (kind, w) in heads.items():
                logits = x @ w.T if kind == 'subset' else (x @ w[1].T) @ w[0].T
                scores[name][l - 1].append(torch.softmax(logits, -1).max(-1).values.reshape(-1))
    return [torch.cat(y) for y in labels], {k: [torch.cat(v) for v in vs] for k, vs in scores.items()}


def auc(score, y):
    """Area under the ROC curve (rank statistic; ties get their mean rank)."""
    s = score.double().numpy()
    t = y.numpy().astype(bool)
    order = np.argsort(s, kind='mergesort')
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):  # mean rank over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = t.sum()
    neg = len(t) - pos
    if pos == 0 or neg == 0:
        return float('nan')
    return float((ranks[t].sum() - pos * (pos + 1) / 2) / (pos * neg))


def coverage_at(score, y, precision):
    """The largest share of tokens whose score is >= some threshold while their agreement stays >= precision,
    and that threshold (1.0 and share 0 when none)."""
    order = torch.argsort(score, descending=True)
    ys = y[order].double()
    hits = torch.cumsum(ys, 0)
    n = torch.arange(1, len(ys) + 1, dtype=torch.float64)
    ok = (hits / n) >= precision
    if not ok.any():
        return 0.0, 1.0
    k = int(torch.nonzero(ok).max()) + 1
    return k / len(ys), float(score[order[k - 1]])


def fit(x, y, hidden, steps, seed):
    """Logistic regression (hidden 0: full-batch L-BFGS) or a one-hidden-layer MLP (Adam), weight decay 1e-4."""
    torch.manual_seed(seed)
    d = x.shape[1]
    if hidden == 0:
        net = torch.nn.Linear(d, 1)
        torch.nn.init.zeros_(net.weight)
        torch.nn.init.zeros_(net.bias)
        opt = torch.optim.LBFGS(net.parameters(), lr=1, max_iter=steps, history_size=20, line_search_fn='strong_wolfe')

        def closure():
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(net(x).squeeze(-1), y) + 1e-4 * net.weight.pow(2).sum()
            loss.backward()
            return loss
        opt.step(closure)
        return net
    net = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps * 10):
        idx = torch.randint(0, len(x), (4096,), generator=g)
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(net(x[idx]).squeeze(-1), y[idx]).backward()
        opt.step()
    return net


def write_safetensors(path, tensors, metadata):
    header = {'__metadata__': metadata}
    blobs = []
    offset = 0
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr, dtype=np.float32)
        header[name] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    raw = json.dumps(header, separators=(',', ':')).encode()
    raw += b' ' * (-len(raw) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--tokens', type=int, default=262144, help='training tokens (windows of train.bin)')
    ap.add_argument('--eval-tokens', type=int, default=65536, help='report tokens (windows of heldout.bin)')
    ap.add_argument('--window', type=int, default=512)
    ap.add_argument('--hidden', type=int, default=0, help='0: logistic regression (what ships); N: an MLP, compared only')
    ap.add_argument('--steps', type=int, default=200)
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--no-write', action='store_true', help='report only')
    ap.add_argument('--proxies', help='instead of training: rate cheaper softmax checks on the held-out tokens, e.g. '
                    'top512,top2048,rank32,rank64 (the K most frequent training tokens; a rank-R factor of the head)')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    model, state = load('target')
    L = model.config.num_hidden_layers
    d = model.config.hidden_size
    data = os.path.join(WORK, 'data')
    if args.proxies:
        counts = np.bincount(np.memmap(os.path.join(data, 'train.bin'), dtype=np.uint16, mode='r'), minlength=model.config.vocab_size)
        frequent = torch.from_numpy(np.argsort(-counts, kind='stable').copy())
        names = args.proxies.split(',')
        y, scores = proxy_scores(model, windows(os.path.join(data, 'heldout.bin'), args.eval_tokens, args.window, 2), 8, names, frequent)
        V = model.config.vocab_size
        cost = {n: (int(n[3:]) * d if n.startswith('top') else int(n[4:]) * (d + V)) for n in names}
        rows = []
        for l in range(1, L):
            row = {'layer': l, 'agreement': round(float(y[l - 1].mean()), 4)}
            for n in names:
                row[f'{n}_auc'] = round(auc(scores[n][l - 1], y[l - 1]), 4)
                row[f'{n}_exit_share@0.99'] = round(coverage_at(scores[n][l - 1], y[l - 1], 0.99)[0], 4)
            rows.append(row)
            print('  ' + ' '.join(f'{k}={v}' for k, v in row.items()))
        report = {'eval_tokens': len(y[0]), 'window': args.window, 'head_macs': V * d,
                  'proxy_macs': cost, 'layers': rows, 'seconds': round(time.time() - t0, 1)}
        with open(os.path.join(WORK, 'exit_proxies.json'), 'w') as f:
            json.dump(report, f, indent=1)
        return
    train = collect(model, windows(os.path.join(data, 'train.bin'), args.tokens, args.window, 1), 8)
    test = collect(model, windows(os.path.join(data, 'heldout.bin'), args.eval_tokens, args.window, 2), 8)
    print(f'exit_classifier: features of {len(train[0][0])} training and {len(test[0][0])} held-out tokens in {time.time() - t0:.0f} s')
    layers = []
    nets = []
    for l in range(1, L):
        x, y = train[0][l - 1], train[1][l - 1]
        net = fit(x, y, args.hidden, args.steps, l)
        nets.append(net)
        with torch.no_grad():
            s = torch.sigmoid(net(test[0][l - 1]).squeeze(-1))
        yt, pt = test[1][l - 1], test[2][l - 1]
        row = {'layer': l, 'agreement': round(float(yt.mean()), 4), 'auc': round(auc(s, yt), 4), 'auc_softmax': round(auc(pt, yt), 4)}
        for prec in PRECISIONS:
            c, t = coverage_at(s, yt, prec)
            cs, ts = coverage_at(pt, yt, prec)
            row[f'exit_share@{prec}'] = round(c, 4)
            row[f'threshold@{prec}'] = round(t, 4)
            row[f'softmax_exit_share@{prec}'] = round(cs, 4)
        layers.append(row)
        print('  ' + ' '.join(f'{k}={v}' for k, v in row.items()))
    report = {'tokens': len(train[0][0]), 'eval_tokens': len(test[0][0]), 'hidden': args.hidden, 'window': args.window,
              'target_training_tokens': int(state['prior']['tokens']) + int(state['tokens']), 'layers': layers,
              'seconds': round(time.time() - t0, 1)}
    os.makedirs(WORK, exist_ok=True)
    with open(os.path.join(WORK, 'exit_classifier.json' if args.hidden == 0 else f'exit_classifier-mlp{args.hidden}.json'), 'w') as f:
        json.dump(report, f, indent=1)
    if args.no_write or args.hidden != 0:
        return
    weight = np.stack([n.weight.detach().numpy()[0] for n in nets])
    bias = np.array([float(n.bias.detach()[0]) for n in nets], dtype=np.float32)
    # The probe: the first held-out token's states at each exit layer, and the score torch gives them.
    eps = model.config.rms_norm_eps
    ids = windows(os.path.join(data, 'heldout.bin'), args.window, args.window, 3)[0][:64].unsqueeze(0)
    with torch.no_grad():
        hs = [model.embed_tokens(ids)] + model.hidden_states(ids)
        prev = np.stack([hs[l - 1][0, 63].numpy() for l in range(1, L)])
        h = np.stack([hs[l][0, 63].numpy() for l in range(1, L)])
        score = np.array([float(torch.sigmoid(nets[l - 1](features(hs[l][0, 63:64], hs[l - 1][0, 63:64], eps)))[0, 0])
                          for l in range(1, L)], dtype=np.float32)
    meta = {'kind': 'calm-exit-classifier', 'version': '1', 'features': 'h/rms(h) (eps = rms_norm_eps), cosine(h, previous layer)',
            'layers': f'1..{L - 1}', 'hidden_size': str(d), 'label': "layer's greedy token == last layer's",
            'tokens': str(len(train[0][0])), 'target_training_tokens': str(report['target_training_tokens'])}
    write_safetensors(OUT, {'weight': np.concatenate([weight[:, :d], weight[:, d:]], 1), 'bias': bias,
                            'check.prev': prev, 'check.h': h, 'check.score': score}, meta)
    print(f'exit_classifier: wrote {os.path.relpath(OUT, os.path.join(ROOT, ".."))} ({os.path.getsize(OUT)} bytes) in {time.time() - t0:.0f} s')


if __name__ == '__main__':
    main()
