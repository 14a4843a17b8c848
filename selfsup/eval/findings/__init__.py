"""``selfsup findings``: seminal claims of self-supervised learning, reproduced at small scale with error bars.

- ``spec``: the vocabulary (variants, comparisons, claims, plots);
- ``catalog`` (with ``masked``, ``contrastive``, ``distillation``, ``pretext``): the findings as data;
- ``verdict``: reproduced / not reproduced at this scale / inconclusive from mean ± std over seeds;
- ``scoring``: the evaluations of one run (cached in the run);
- ``runner``: plan, pretrain or reuse (subprocesses, as ``selfsup compare``), evaluate, judge, write.

The page is ``selfsup.viz.findings_page``; the command ``selfsup.cli.findings_cmd``.
"""
