"""The findings: seminal claims of self-supervised learning as small, pre-declared experiments.

Each ``Finding`` names its paper and claim, the runs (shipped ``configs/*.yaml`` plus overrides),
the evaluations and the comparisons its verdict is computed from (``selfsup.eval.findings.verdict``).
Sizes are chosen for a CPU: Fashion-MNIST (60k 28 px grayscale) with the reduced-width ResNet and
the small ViTs of the shipped configs, and the stamps (~800 colour photos, 17 categories) where
colour matters. ``epochs`` is the length of every run of a finding at ``--budget 1``; ``--quick``
replaces the data by sklearn's digits and trains half an epoch of it, which tests the pipeline, not
the claims. Every verdict reads test numbers of the variants fixed here (no choice on test); the
validation columns are shown beside them.

Runs are identified by what they train (config, overrides, epochs, data, seed), so a variant
declared identically in two findings is trained once: the SimCLR run at batch 256 serves
findings 3, 4 and 7, and the MAE run at mask 0.75 serves findings 1 and 8.
"""

from __future__ import annotations

from selfsup.eval.findings.contrastive import HEAD_4, NEGATIVES_3, SIMCLR_AUG_2
from selfsup.eval.findings.distillation import ATTENTION_6, DINO_5
from selfsup.eval.findings.masked import FINETUNE_8, MAE_1
from selfsup.eval.findings.pretext import LABELS_7
from selfsup.eval.findings.spec import Finding

FINDINGS = (MAE_1, SIMCLR_AUG_2, NEGATIVES_3, HEAD_4, DINO_5, ATTENTION_6, LABELS_7, FINETUNE_8)
for _f in FINDINGS:
    _f.check()


def select(names: list[str] | tuple[str, ...] = ()) -> tuple[Finding, ...]:
    """The findings named (by name or number, e.g. ``mae-masking`` or ``1``), all when none are."""
    if not names:
        return FINDINGS
    by_key = {f.name: f for f in FINDINGS} | {str(i + 1): f for i, f in enumerate(FINDINGS)}
    unknown = [n for n in names if n not in by_key]
    if unknown:
        raise ValueError(
            f"unknown finding(s) {unknown}; choose from {[f.name for f in FINDINGS]} or 1-{len(FINDINGS)} "
            "(see `selfsup findings --list`)"
        )
    return tuple(dict.fromkeys(by_key[n] for n in names))
