"""The bundled models: architecture and training budget of each. Token ids match tokenizer.mjs.

Second generation (causal models): training resumes from the shipped checkpoint (models/hasten-*/model.safetensors),
`batch_tokens` tokens per step, with a sequence-length curriculum up to `seq` (LENGTH_CURRICULUM: the fraction of
the run spent at each length; the batch shrinks as windows grow, so tokens per step stay constant). Drafts with a
`teacher` are distilled from that model's distribution (forward KL on every position, plus a little plain CE).
"""

EOT, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, PAD, MASK = 0, 1, 2, 3, 4, 5

# (fraction of the run's progress at which a length starts, window length). Until the fourth session 1,024 started at 0.55
# (it trained 2.6x slower per token than 256); with causal_blocks it costs about as much, so most of a run is at 1,024.
LENGTH_CURRICULUM = [(0.0, 256), (0.1, 512), (0.2, 1024)]

SPECS = {
    # The target: Llama-style, trained with FIM and a LayerSkip-style early-exit loss at every layer.
    'target': {
        'kind': 'causal', 'seed': 11, 'lr': 1.5e-3, 'warmup': 40, 'batch_tokens': 8192, 'seq': 1024, 'steps': 1000,
        'exit_weight': 0.75,  # 0.5 until the second generation's third session (weights then ramped to half depth)
        'exit_distill': 0.75,  # share of each exit's loss that is KL to the final layer (0.75 from the sixth session; 0.5 in the fifth; 0 before)
        'half_kl': 0.5,  # plus this weight times KL(final || half-depth exit) alone (from the tenth session; train.causal_loss)
        'config': dict(hidden_size=256, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=2,
                       intermediate_size=640, max_position_embeddings=1024),
    },
    # Two draft sizes sharing the tokenizer, for the draft-size x acceptance study.
    'draft-s': {
        'kind': 'causal', 'seed': 12, 'lr': 3e-3, 'warmup': 30, 'batch_tokens': 8192, 'seq': 1024, 'steps': 300,
        'teacher': 'target',
        'config': dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                       intermediate_size=176, max_position_embeddings=1024),
    },
    'draft-m': {
        'kind': 'causal', 'seed': 13, 'lr': 2e-3, 'warmup': 30, 'batch_tokens': 8192, 'seq': 1024, 'steps': 300,
        'teacher': 'target',
        'config': dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                       intermediate_size=352, max_position_embeddings=1024),
    },
    # Conditional masked LM for Mask-Predict infilling (bidirectional, with a span-length head). Since the second
    # generation's fourth session it has the target's shape and starts from the target's weights (`init_from`: every
    # tensor but the length head), then learns bidirectional infilling; trained from scratch at 192 x 4 it reached
    # 8% masked-token accuracy.
    # Since the seventh session its logits are shifted (`shift`: position p predicts the masked token at p + 1, as the
    # causal target does; train.cmlm_batch), so a CMLM of the other convention is re-initialised from the target.
    # Since the thirteenth session its 15% of masked context comes in runs of mean length 8 (`context_run`,
    # train.context_runs): two or three more spans per sample to infill, where single masked tokens were mostly
    # given away by their neighbours.
    'cmlm': {
        'kind': 'cmlm', 'seed': 14, 'lr': 1e-3, 'warmup': 40, 'batch': 24, 'steps': 600, 'context_mask': 0.15,
        'context_run': 8, 'init_from': 'target', 'shift': True,
        'config': dict(hidden_size=256, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=2,
                       intermediate_size=640, max_span=48, max_position_embeddings=320),
    },
}
