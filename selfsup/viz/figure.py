"""``save_figure``: the one way viz modules finish and write a matplotlib figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_figure(fig: Any, path: str | Path, title: str = "", dpi: int = 100) -> Path:
    """Add ``title``, tighten the layout and write ``fig`` to ``path`` (parent folders created)."""
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
