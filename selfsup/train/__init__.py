"""Training: config schema and loading, optimizers, the Lightning adapter and ``pretrain``."""
