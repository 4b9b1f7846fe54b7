"""What every study shares: the number format of the paper, estimand labels, writing a stage's outputs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

ESTIMAND_LABELS = {"rmst": "RMST", "surv": "Survival", "cif": "CIF", "rmtl": "RMTL",
                   "cif_naive": "CIF, deaths censored", "rmtl_naive": "RMTL, deaths censored"}


def fmt(value: float) -> str:
    """A number as the paper prints it: three significant digits."""
    return f"{value:.3g}"


def write_values(path: str | Path, values: Mapping) -> None:
    """The values a section of the paper quotes, as YAML (sorted keys, so that the same values give the same file)."""
    Path(path).write_text(yaml.safe_dump(dict(values), sort_keys=True))


def save_figure(figure, path: str | Path, source: str) -> None:
    """A figure as the paper includes it (PNG, 150 dpi, tight bounding box), stamped with the notebook that made it
    (``source``) and the commit of the code (PNG text chunks "Source" and "Commit", which the paper's captions
    quote: :func:`causalehr.paper.figure_provenance`)."""
    from causalehr.workflow import code_version

    figure.savefig(path, dpi=150, bbox_inches="tight", metadata={"Source": source, "Commit": code_version()})
