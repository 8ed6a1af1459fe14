"""Llama-style decoder (RMSNorm, RoPE, SwiGLU, grouped-query attention) with early-exit heads
through the shared final norm and LM head, plus the conditional masked LM used by Mask-Predict.

Written for torch 1.13 (Debian's python3-torch): attention is spelled out by hand, and every size
that must stay dynamic in an ONNX trace is taken from `.shape` without `int()`.
"""
from dataclasses import dataclass, asdict
import math
import os

import torch
from torch import nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int = 8192
    hidden_size: int = 256
    num_hidden_layers: int = 8
    num_attention_heads: int = 8
    num_key_value_heads: int = 2
    intermediate_size: int = 640
    max_position_embeddings: int = 512
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    max_span: int = 0  # CMLM only: the largest span length the length head predicts

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def to_dict(self):
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_cos_sin(position_ids, head_dim, theta):
    """position_ids [B, T] -> cos, sin [B, 1, T, head_dim] (HF rotate_half layout)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=position_ids.device) / head_dim))
    freqs = position_ids.to(torch.float32).unsqueeze(-1) * inv_freq  # [B, T, hd/2]
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos().unsqueeze(1), emb.sin().unsqueeze(1)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x, cos, sin):
    return x * cos + rotate_half(x) * sin


class Attention(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.c = c
        hd = c.head_dim
        self.q_proj = nn.Linear(c.hidden_size, c.num_attention_heads * hd, bias=False)
        self.k_proj = nn.Linear(c.hidden_size, c.num_key_value_heads * hd, bias=False)
        self.v_proj = nn.Linear(c.hidden_size, c.num_key_value_heads * hd, bias=False)
        self.o_proj = nn.Linear(c.num_attention_heads * hd, c.hidden_size, bias=False)

    def kv(self, x, cos, sin):
        """x [B, T, d] -> k, v [B, KV, T, hd] (k already rotated)."""
        b, t = x.shape[0], x.shape[1]
        k = self.k_proj(x).view(b, t, self.c.num_key_value_heads, self.c.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.c.num_key_value_heads, self.c.head_dim).transpose(1, 2)
        return apply_rope(k, cos, sin), v

    def forward(self, x, cos, sin, bias, past_k=None, past_v=None):
        """x [B, T, d]; bias [B, 1, T, P+T] additive; past [B, KV, P, hd] -> out, k_all, v_all.
        An int `bias` means causal attention computed in query blocks of that many rows (training only)."""
        c = self.c
        b, t = x.shape[0], x.shape[1]
        q = self.q_proj(x).view(b, t, c.num_attention_heads, c.head_dim).transpose(1, 2)
        q = apply_rope(q, cos, sin)
        k, v = self.kv(x, cos, sin)
        if isinstance(bias, int):
            if q.is_cuda and not SDPA_OFF:  # one fused causal kernel (flash attention under bf16 autocast) instead of query blocks
                rep = c.num_attention_heads // c.num_key_value_heads  # head h reads group h // rep, as causal_blocks
                kr, vr = (a.repeat_interleave(rep, dim=1).to(v.dtype) for a in (k, v))  # rope left q, k in fp32
                out = F.scaled_dot_product_attention(q.to(v.dtype), kr, vr, is_causal=True)
                return self.o_proj(out.transpose(1, 2).reshape(b, t, c.num_attention_heads * c.head_dim)), k, v
            return self.o_proj(causal_blocks(q, k, v, bias)), k, v
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        rep = c.num_attention_heads // c.num_key_value_heads
        s = k.shape[2]
        kr = k.unsqueeze(2).expand(b, c.num_key_value_heads, rep, s, c.head_dim).reshape(b, c.num_attention_heads, s, c.head_dim)
        vr = v.unsqueeze(2).expand(b, c.num_key_value_heads, rep, s, c.head_dim).reshape(b, c.num_attention_heads, s, c.head_dim)
        scores = torch.matmul(q, kr.transpose(2, 3)) * (1.0 / math.sqrt(c.head_dim)) + bias
        att = torch.softmax(scores, dim=-1)
        out = torch.matmul(att, vr).transpose(1, 2).reshape(b, t, c.num_attention_heads * c.head_dim)
        return self.o_proj(out), k, v


# HASTEN_ATTN=blocks keeps causal_blocks on a GPU too (gpu-run.sh sets it if the fused kernel disagrees with it)
SDPA_OFF = os.environ.get('HASTEN_ATTN') == 'blocks'


def causal_blocks(q, k, v, block):
    """Causal grouped-query attention without a T x T score tensor: query rows go in blocks of `block`, each
    against the keys up to its last row only, so the masked upper triangle is neither computed nor stored, and
    K/V are shared across each group's heads instead of copied. Equal to the bias path up to rounding; this is
    what makes 1,024-token training windows affordable on torch 1.13, which has no fused attention.
    q [B, H, T, hd], k, v [B, KV, T, hd] -> [B, T, H * hd]."""
    b, h, t, hd = q.shape
    kv = k.shape[1]
    rep = h // kv
    qg = q.reshape(b, kv, rep, t, hd) * (1.0 / math.sqrt(hd))
    outs = []
    for s in range(0, t, block):
        e = min(t, s + block)
        scores = torch.matmul(qg[:, :, :, s:e], k[:, :, None, :e].transpose(3, 4))  # [B, KV, rep, e-s, e]
        mask = torch.ones(e - s, e, dtype=torch.bool, device=q.device).triu(s + 1)
        att = torch.softmax(scores.masked_fill(mask, float('-inf')), dim=-1)
        outs.append(torch.matmul(att, v[:, :, None, :e]))  # [B, KV, rep, e-s, hd]
    return torch.cat(outs, dim=3).reshape(b, h, t, hd).transpose(1, 2).reshape(b, t, h * hd)


class MLP(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, bias, past_k=None, past_v=None):
        a, k, v = self.self_attn(self.input_layernorm(x), cos, sin, bias, past_k, past_v)
        x = x + a
        return x + self.mlp(self.post_attention_layernorm(x)), k, v

    def propagate_kv(self, x, cos, sin):
        """CALM state propagation: this layer's KV computed from an earlier layer's hidden state."""
        return self.self_attn.kv(self.input_layernorm(x), cos, sin)


def tied_logits(x, w):
    """x [B, T, d], w [V, d] (the embedding) -> logits [B, T, V]."""
    # A 2-D F.linear with a bias exports as Gemm(transB=1) on the embedding itself; without one the
    # exporter folds in a transposed copy of the largest tensor (4 MB more per file).
    zero = torch.zeros(w.shape[0], dtype=x.dtype, device=x.device)
    return F.linear(x.reshape(-1, x.shape[-1]), w, zero).reshape(x.shape[0], x.shape[1], -1)


def causal_bias(t, device=None):
    """[1, 1, T, T] additive causal mask using finfo.min so no row is all -inf."""
    m = torch.full((t, t), torch.finfo(torch.float32).min, device=device)
    return torch.triu(m, diagonal=1).view(1, 1, t, t)


class CausalLM(nn.Module):
    """Decoder-only LM. The LM head is tied to the embedding; every layer can exit through norm+head."""

    def __init__(self, c: Config):
        super().__init__()
        self.config = c
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList([Block(c) for _ in range(c.num_hidden_layers)])
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.apply(self._init)
        for layer in self.layers:  # scaled residual init (GPT-2), keeps deep stacks stable
            for p in (layer.self_attn.o_proj.weight, layer.mlp.down_proj.weight):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * c.num_hidden_layers))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def head(self, h):
        return tied_logits(self.norm(h), self.embed_tokens.weight)

    def hidden_states(self, input_ids, block=None):
        """Training forward: input_ids [B, T] -> list of hidden states after each layer, each [B, T, d].
        `block`: causal attention in query blocks of this many rows (causal_blocks) instead of a T x T bias."""
        t = input_ids.shape[1]
        pos = torch.arange(t, device=input_ids.device).unsqueeze(0).expand_as(input_ids)
        cos, sin = rope_cos_sin(pos, self.config.head_dim, self.config.rope_theta)
        bias = block if block else causal_bias(t, input_ids.device)
        x = self.embed_tokens(input_ids)
        out = []
        for layer in self.layers:
            x, _, _ = layer(x, cos, sin, bias)
            out.append(x)
        return out


class CMLM(nn.Module):
    """Conditional masked LM for Mask-Predict infilling.

    Layout: <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|> span...
    Context positions attend only to context; span positions attend to everything. The length head
    reads the <|fim_middle|> position, so the predicted length never sees how many masks follow.
    """

    def __init__(self, c: Config):
        super().__init__()
        self.config = c
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList([Block(c) for _ in range(c.num_hidden_layers)])
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.length_head = nn.Linear(c.hidden_size, c.max_span + 1, bias=False)
        self.apply(CausalLM._init)

    def forward(self, input_ids, position_ids, bias):
        """input_ids, position_ids [B, T]; bias [B, 1, T, T] -> logits [B, T, V], length_logits [B, T, max_span+1]."""
        cos, sin = rope_cos_sin(position_ids, self.config.head_dim, self.config.rope_theta)
        x = self.embed_tokens(input_ids)
        for layer in self.layers:
            x, _, _ = layer(x, cos, sin, bias)
        h = self.norm(x)
        return tied_logits(h, self.embed_tokens.weight), self.length_head(h)


def count_params(model):
    return sum(p.numel() for p in model.parameters())
