"""Training: config schema and loading, schedules, optimizers, the Lightning adapter and ``pretrain``."""
