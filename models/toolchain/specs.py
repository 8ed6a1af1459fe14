"""The bundled models: architecture and training budget of each. Token ids match tokenizer.mjs."""

EOT, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, PAD, MASK = 0, 1, 2, 3, 4, 5

SPECS = {
    # The target: Llama-style, trained with FIM and a LayerSkip-style early-exit loss at every layer.
    'target': {
        'kind': 'causal', 'seed': 11, 'lr': 2e-3, 'warmup': 60, 'batch': 12, 'seq': 256, 'steps': 700,
        'exit_weight': 0.5,
        'config': dict(hidden_size=256, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=2,
                       intermediate_size=640, max_position_embeddings=256),
    },
    # Two draft sizes sharing the tokenizer, for the draft-size x acceptance study.
    'draft-s': {
        'kind': 'causal', 'seed': 12, 'lr': 4e-3, 'warmup': 40, 'batch': 12, 'seq': 256, 'steps': 400,
        'config': dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                       intermediate_size=176, max_position_embeddings=256),
    },
    'draft-m': {
        'kind': 'causal', 'seed': 13, 'lr': 3e-3, 'warmup': 40, 'batch': 12, 'seq': 256, 'steps': 400,
        'config': dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                       intermediate_size=352, max_position_embeddings=256),
    },
    # Conditional masked LM for Mask-Predict infilling (bidirectional, with a span-length head).
    'cmlm': {
        'kind': 'cmlm', 'seed': 14, 'lr': 2e-3, 'warmup': 40, 'batch': 12, 'steps': 400,
        'config': dict(hidden_size=192, num_hidden_layers=4, num_attention_heads=6, num_key_value_heads=6,
                       intermediate_size=512, max_span=48, max_position_embeddings=320),
    },
}
