"""Exports the trained checkpoints to folders in Hugging Face hub layout under models/.

Every causal model becomes a Hugging Face checkpoint: config.json (LlamaForCausalLM), model.safetensors
(fp16, `model.`-prefixed LlamaForCausalLM names), generation_config.json, tokenizer files and torch's
reference outputs. Its ONNX graphs are then made by Hasten's own graph builder, the one export path
for bundled and downloaded models (the `graphs` stage of build.sh: npx tsx models/toolchain/graphs.ts).
The CMLM (bidirectional, with a span-length head: not a Llama decoder) is still traced by torch here:
onnx/model.onnx with its weights stored as fp16 in onnx/model.onnx_data, upcast by a Cast at load.

The torch weights are rounded to fp16 before tracing, so the reference outputs written here are
what ONNX Runtime must reproduce (within 1e-4) from the fp16 file.
"""
import hashlib
import json
import os
import shutil
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..'))
WORK = os.path.join(ROOT, '.work')
sys.path.insert(0, HERE)

try:
    import torch
    import onnx
    from onnx import helper, numpy_helper, TensorProto
except ImportError as e:
    sys.exit(f'export: {e.name} is missing. Install it with: apt-get install python3-torch python3-onnx')

from model import CMLM, CausalLM, Config, count_params, rope_cos_sin  # noqa: E402
from specs import SPECS, EOT, PAD, MASK, FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE  # noqa: E402
from train import FOLDERS, shipped  # noqa: E402

OPSET = 17
MIN = torch.finfo(torch.float32).min
DATA_FILE = 'model.onnx_data'


def load(name, required=True):
    """The model this build exports: its checkpoint from this run of train.py, else (causal models) the
    shipped checkpoint in models/<folder>/model.safetensors. Returns (model, state) with the training
    record: `tokens`/`step`/`elapsed` of this run and `prior` (what the starting weights had seen)."""
    path = os.path.join(WORK, 'ckpt', f'{name}.pt')
    if os.path.exists(path):
        state = torch.load(path, map_location='cpu', weights_only=False)
        cfg = Config(**state['config'])
        weights = state['model']
    elif (got := shipped(name)):
        weights, prior = got
        cfg = Config(**SPECS[name]['config'])
        state = {'tokens': 0, 'step': 0, 'elapsed': 0.0, 'config': cfg.to_dict(), 'prior': prior}
    elif required:
        sys.exit(f'export: {path} is missing; train it first: /usr/bin/python3 models/toolchain/train.py --model {name}')
    else:
        return None, None
    model = (CMLM if SPECS[name]['kind'] == 'cmlm' else CausalLM)(cfg)
    model.load_state_dict(weights)
    with torch.no_grad():  # what ships is fp16: make torch compute with exactly those weights
        for p in model.parameters():
            p.copy_(p.half().float())
    model.eval()
    state.setdefault('prior', {'tokens': 0, 'steps': 0, 'minutes': 0.0, 'source': 'random initialisation'})
    return model, state


def training_record(state):
    """Cumulative training figures (every session's run on top of the weights it started from). A model exported
    from its shipped weights, not trained in this build, keeps the shipped record's last run (`prior['last_run']`,
    train.prior_of): the run that last trained it and where that run started (until the second generation's tenth
    session such an export wrote a run of 0 tokens that started from its own shipped file)."""
    prior = state['prior']
    last = prior.get('last_run') if state['tokens'] == 0 else None
    # the machine of a run that was not this one's CPU (carry.py packs a GPU run's checkpoint with its device name)
    device = last.get('trained_on') if last else state.get('device') if state['tokens'] else None
    return {'training_tokens_total': prior['tokens'] + state['tokens'], 'training_steps_total': prior['steps'] + state['step'],
            'training_minutes_total': round(prior['minutes'] + state['elapsed'] / 60, 1),
            'training_tokens_this_run': last['tokens'] if last else state['tokens'],
            'started_from': last['source'] if last else prior['source'],
            **({'trained_on': device} if device else {})}


# ---------------------------------------------------------------- graph wrappers

class Standard(torch.nn.Module):
    """Optimum-style decoder: int64 attention_mask [B, P+T] (1 = attend), causal inside."""

    def __init__(self, m, tree=False):
        super().__init__()
        self.m, self.tree = m, tree

    def forward(self, input_ids, attention_mask, position_ids, *past):
        m = self.m
        c = m.config
        if self.tree:
            bias = attention_mask
        else:
            t = input_ids.shape[1]
            p = past[0].shape[2]
            q = torch.arange(t).unsqueeze(1) + p  # [T, 1]
            k = torch.arange(attention_mask.shape[1]).unsqueeze(0)  # [1, P+T]
            allowed = (k <= q).unsqueeze(0).unsqueeze(0) & (attention_mask.unsqueeze(1).unsqueeze(1) > 0)
            bias = torch.where(allowed, torch.zeros(()), torch.full((), MIN))
        cos, sin = rope_cos_sin(position_ids, c.head_dim, c.rope_theta)
        x = m.embed_tokens(input_ids)
        presents = []
        for i, layer in enumerate(m.layers):
            x, k_, v_ = layer(x, cos, sin, bias, past[2 * i], past[2 * i + 1])
            presents += [k_, v_]
        return (m.head(x), *presents)


class CMLMGraph(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask, position_ids):
        return self.m(input_ids, position_ids, attention_mask)


# ---------------------------------------------------------------- export + fp16 weight sharing

def trace(module, args, names_in, names_out, dyn, path):
    with torch.no_grad():
        torch.onnx.export(module, args, path, input_names=names_in, output_names=names_out,
                          dynamic_axes=dyn, opset_version=OPSET, do_constant_folding=True)


class SharedWeights:
    """One fp16 blob per model folder; identical tensors are stored once and shared by every graph."""

    def __init__(self, path):
        self.path = path
        self.offsets = {}
        self.buf = bytearray()

    def add(self, arr16):
        key = hashlib.sha256(arr16.tobytes()).hexdigest()
        if key not in self.offsets:
            pad = (-len(self.buf)) % 64
            self.buf += b'\0' * pad
            self.offsets[key] = (len(self.buf), arr16.nbytes)
            self.buf += arr16.tobytes()
        return key, self.offsets[key]

    def write(self):
        with open(self.path, 'wb') as f:
            f.write(self.buf)


def to_shared_fp16(src, dst, shared, min_elems=1024):
    """Moves every large fp32 initializer into the shared fp16 blob and inserts a Cast to fp32."""
    model = onnx.load(src)
    g = model.graph
    keep, casts = [], []
    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        if init.data_type != TensorProto.FLOAT or arr.size < min_elems:
            keep.append(init)
            continue
        arr16 = arr.astype(np.float16)
        key, (offset, length) = shared.add(arr16)
        t = onnx.TensorProto()
        t.name = f'w16_{key[:16]}_{init.name}'
        t.data_type = TensorProto.FLOAT16
        t.dims.extend(arr.shape)
        t.data_location = TensorProto.EXTERNAL
        for k, v in (('location', DATA_FILE), ('offset', str(offset)), ('length', str(length))):
            e = t.external_data.add()
            e.key, e.value = k, v
        keep.append(t)
        casts.append(helper.make_node('Cast', [t.name], [init.name], to=TensorProto.FLOAT, name=f'cast_{init.name}'))
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    onnx.save(model, dst)


def write_safetensors(path, tensors):
    """tensors: name -> fp16 numpy array. The safetensors layout: u64 header size, JSON header, raw data."""
    header, blobs, off = {'__metadata__': {'format': 'pt'}}, [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name], dtype=np.float16)
        header[name] = {'dtype': 'F16', 'shape': list(arr.shape), 'data_offsets': [off, off + arr.nbytes]}
        off += arr.nbytes
        blobs.append(arr.tobytes())
    raw = json.dumps(header, separators=(',', ':')).encode()
    raw += b' ' * ((-len(raw)) % 8)
    with open(path, 'wb') as f:
        f.write(len(raw).to_bytes(8, 'little'))
        f.write(raw)
        for b in blobs:
            f.write(b)


def export_checkpoint(model, out):
    """The causal model's weights under LlamaForCausalLM names (tied head: no lm_head.weight)."""
    tensors = {f'model.{k}': v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    write_safetensors(os.path.join(out, 'model.safetensors'), tensors)
    return ['model.safetensors']


def past_inputs(c, n_layers, p=0, b=1):
    return [torch.zeros(b, c.num_key_value_heads, p, c.head_dim) for _ in range(2 * n_layers)]


def export_cmlm(model, out, tmp):
    shared = SharedWeights(os.path.join(out, 'onnx', DATA_FILE))
    t = {0: 'batch_size', 1: 'sequence_length'}
    args = (torch.tensor([[1, 50, 51, 3, 52, 2, 5, 5]]), torch.zeros(1, 1, 8, 8), torch.arange(8).unsqueeze(0))
    trace(CMLMGraph(model), args, ['input_ids', 'attention_mask', 'position_ids'], ['logits', 'length_logits'],
          {'input_ids': t, 'position_ids': t, 'logits': t, 'length_logits': t,
           'attention_mask': {0: 'batch_size', 2: 'sequence_length', 3: 'sequence_length'}}, os.path.join(tmp, 'model.onnx'))
    to_shared_fp16(os.path.join(tmp, 'model.onnx'), os.path.join(out, 'onnx', 'model.onnx'), shared)
    shared.write()
    # The weights again as a checkpoint, so that the next session's training resumes from them (train.shipped);
    # scripts/vsix.ts keeps safetensors out of the .vsix.
    write_safetensors(os.path.join(out, 'model.safetensors'), {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()})
    return ['model.onnx', 'model.safetensors']


# ---------------------------------------------------------------- reference outputs

STRIDE = 64  # every 64th vocabulary entry, plus the argmax, keeps reference files small


def summarise(logits):
    """logits [B, T, V] -> strided values and argmax per position."""
    return {'strided': logits[..., ::STRIDE].tolist(), 'argmax': logits.argmax(-1).tolist()}


def greedy(model, prompt, n):
    """Greedy decoding with the exported graph's own KV-cache path; stops at end of text."""
    c = model.config
    std = Standard(model)
    ids = torch.tensor([prompt])
    past = past_inputs(c, c.num_hidden_layers, 0)
    pos = torch.arange(len(prompt)).unsqueeze(0)
    out = []
    with torch.no_grad():
        for _ in range(n):
            res = std(ids, torch.ones(1, int(pos[0, -1]) + 1, dtype=torch.int64), pos, *past)
            nxt = int(res[0][0, -1].argmax())
            out.append(nxt)
            if nxt == EOT:
                break
            past = list(res[1:])
            ids = torch.tensor([[nxt]])
            pos = pos[:, -1:] + 1
    return out


def causal_reference(name, model):
    c = model.config
    L = c.num_hidden_layers
    prompt = torch.tensor([[FIM_PREFIX, 300, 301, 302, 303, 304, 305, FIM_SUFFIX, 306, 307, FIM_MIDDLE, 308]])
    nxt = torch.tensor([[309, 310, 311]])
    with torch.no_grad():
        std = Standard(model)
        out1 = std(prompt, torch.ones(1, 12, dtype=torch.int64), torch.arange(12).unsqueeze(0), *past_inputs(c, L, 0))
        out2 = std(nxt, torch.ones(1, 15, dtype=torch.int64), torch.arange(12, 15).unsqueeze(0), *out1[1:])
        ref = {'stride': STRIDE, 'prompt': prompt.tolist(), 'next': nxt.tolist(),
               'prefill': summarise(out1[0]), 'decode': summarise(out2[0])}
        held = np.fromfile(os.path.join(WORK, 'data', 'heldout-plain.bin'), dtype=np.uint16)[:40].astype(np.int64).tolist()
        ref['greedy'] = {'prompt': held, 'output': greedy(model, held, 24)}
        if name == 'target':
            # A tree after the prompt: root 309 with children 310 and 320; 310 has child 311.
            tree_ids = torch.tensor([[309, 310, 320, 311]])
            parents = [-1, 0, 0, 1]
            depth = [0, 1, 1, 2]
            bias = torch.full((1, 1, 4, 16), MIN)
            bias[..., :12] = 0
            for i in range(4):
                j = i
                while j != -1:
                    bias[0, 0, i, 12 + j] = 0
                    j = parents[j]
            pos = torch.tensor([[12 + d for d in depth]])
            tout = Standard(model, tree=True)(tree_ids, bias, pos, *out1[1:])
            ref['tree'] = {'ids': tree_ids.tolist(), 'parents': parents, 'positions': pos.tolist(), **summarise(tout[0])}
            hs = model.hidden_states(prompt)
            ref['exits'] = [summarise(model.head(h)) for h in hs]
    return ref


def cmlm_reference(model):
    ids = torch.tensor([[FIM_PREFIX, 300, 301, 302, FIM_SUFFIX, 303, FIM_MIDDLE, MASK, MASK, MASK]])
    c = 7
    bias = torch.full((1, 1, 10, 10), MIN)
    bias[..., :c, :c] = 0
    bias[..., c:, :] = 0
    with torch.no_grad():
        logits, length = model(ids, torch.arange(10).unsqueeze(0), bias)
    return {'stride': STRIDE, 'ids': ids.tolist(), 'context': c, **summarise(logits),
            'length_logits': length[0, c - 1].tolist()}


# ---------------------------------------------------------------- folder files

def hf_config(name, model, state):
    c = model.config
    spec = SPECS[name]
    record = training_record(state)
    base = {
        'vocab_size': c.vocab_size, 'hidden_size': c.hidden_size, 'intermediate_size': c.intermediate_size,
        'num_hidden_layers': c.num_hidden_layers, 'num_attention_heads': c.num_attention_heads,
        'num_key_value_heads': c.num_key_value_heads, 'head_dim': c.head_dim,
        'max_position_embeddings': c.max_position_embeddings, 'rms_norm_eps': c.rms_norm_eps,
        'rope_theta': c.rope_theta, 'hidden_act': 'silu', 'tie_word_embeddings': True,
        'bos_token_id': None, 'eos_token_id': EOT, 'pad_token_id': PAD, 'torch_dtype': 'float32',
        'transformers.js_config': {'use_external_data_format': True},
        'hasten': {'name': FOLDERS[name], 'params': count_params(model), **record,
                   'training_tokens': record['training_tokens_total'],
                   'trained_context': spec.get('seq')},
    }
    if spec['kind'] == 'cmlm':
        base.update({'model_type': 'hasten-cmlm', 'architectures': ['HastenCMLM'], 'mask_token_id': MASK, 'max_span': c.max_span,
                     # 1: span token k's logits are read at position k - 1 (the context's last for k = 0); train.cmlm_batch
                     'span_logits_shift': int(bool(spec.get('shift')))})
    else:
        base.update({'model_type': 'llama', 'architectures': ['LlamaForCausalLM']})
    return base


def main():
    names = sys.argv[1:] or list(FOLDERS)
    tok_dir = os.path.join(WORK, 'tokenizer')
    for name in names:
        model, state = load(name, required=name in sys.argv[1:])
        if model is None:
            print(f'export: {FOLDERS[name]}: no checkpoint from this build; the committed folder is kept as it is')
            continue
        out = os.path.join(ROOT, FOLDERS[name])
        if os.path.isdir(out):
            shutil.rmtree(out)
        os.makedirs(os.path.join(out, 'onnx') if name == 'cmlm' else out)
        with tempfile.TemporaryDirectory() as tmp:
            # Causal models: the checkpoint only; build.sh's graphs stage runs Hasten's builder on it.
            graphs = export_cmlm(model, out, tmp) if name == 'cmlm' else export_checkpoint(model, out)
        for f in ('tokenizer.json', 'tokenizer_config.json'):
            shutil.copy(os.path.join(tok_dir, f), os.path.join(out, f))
        with open(os.path.join(out, 'config.json'), 'w') as f:
            json.dump(hf_config(name, model, state), f, indent=2)
        with open(os.path.join(out, 'generation_config.json'), 'w') as f:
            json.dump({'eos_token_id': EOT, 'pad_token_id': PAD, 'do_sample': False, 'max_new_tokens': 64}, f, indent=2)
        ref = cmlm_reference(model) if name == 'cmlm' else causal_reference(name, model)
        with open(os.path.join(out, 'reference.json'), 'w') as f:
            json.dump(ref, f)
        size = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(out) for fn in fns)
        print(f'export: {FOLDERS[name]}: {", ".join(graphs)}, {size / 1e6:.1f} MB')


if __name__ == '__main__':
    main()
