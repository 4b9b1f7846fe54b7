"""Assemble the manuscript's inputs from results/ and render it.

The workflow's evaluation notebooks write figures, tables (Markdown) and the values the text quotes (YAML)
under results/. This module copies the figures and tables into ``paper/_generated/`` and merges the values
into ``paper/_variables.yml``, which Quarto's ``{{< var key >}}`` shortcode (and our fallback renderer) reads;
both are produced, never edited by hand. Then it renders the manuscript.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import yaml

GENERATED = "_generated"
VARIABLES = "_variables.yml"


def merge_values(paths: list[Path]) -> dict:
    """Merge YAML value files; a top-level key defined by two files is an error naming both."""
    merged: dict = {}
    origin: dict = {}
    for path in map(Path, paths):
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of names to values, got {type(values).__name__}")
        for key, value in values.items():
            if key in merged:
                raise ValueError(f"value {key!r} is defined in both {origin[key]} and {path}")
            merged[key], origin[key] = value, path
    return merged


def figure_provenance(path: Path) -> dict:
    """The notebook and the commit that made a PNG figure (its "Source" and "Commit" text chunks, written by
    :func:`causalehr.studies.common.save_figure`); "unknown" where a chunk is missing."""
    from PIL import Image

    with Image.open(path) as image:
        text = getattr(image, "text", {})
    return {"notebook": text.get("Source", "unknown"), "commit": text.get("Commit", "unknown")}


def assemble(paper_dir: Path, inputs: list[Path], values: list[Path]) -> None:
    """Copy figure/table files into paper_dir/_generated and write paper_dir/_variables.yml, with the provenance
    of each PNG figure under ``figures.<file stem>`` (:func:`figure_provenance`)."""
    paper_dir = Path(paper_dir)
    generated = paper_dir / GENERATED
    if generated.exists():
        shutil.rmtree(generated)
    generated.mkdir(parents=True)
    for path in map(Path, inputs):
        target = generated / path.name
        if target.exists():
            raise ValueError(f"two inputs are named {path.name}: rename one of them")
        shutil.copyfile(path, target)
    merged = merge_values(values)
    if "figures" in merged:
        raise ValueError("the value name 'figures' is reserved for the provenance of the figures")
    merged["figures"] = {path.stem: figure_provenance(path) for path in map(Path, inputs) if path.suffix == ".png"}
    (paper_dir / VARIABLES).write_text(yaml.safe_dump(merged, sort_keys=True))


def main(argv: list[str] | None = None) -> None:
    from causalehr.render import render

    parser = argparse.ArgumentParser(prog="python -m causalehr.paper", description=__doc__.splitlines()[0])
    parser.add_argument("--paper-dir", type=Path, default=Path("paper"))
    parser.add_argument("--source", default="manuscript.qmd", help="the document to render, in --paper-dir")
    parser.add_argument("--thesis", action="store_true", help="also render the thesis (book profile 'thesis')")
    parser.add_argument("--inputs", type=Path, nargs="*", default=[], help="figures and tables to copy")
    parser.add_argument("--values", type=Path, nargs="*", default=[], help="YAML files of quoted values")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--to", default="html,pdf", help="comma-separated formats")
    parser.add_argument("--renderer", default="auto", choices=["auto", "quarto", "fallback"])
    args = parser.parse_args(argv)
    assemble(args.paper_dir, args.inputs, args.values)
    formats = tuple(args.to.split(","))
    documents = {Path(args.source).stem: args.paper_dir / args.source}
    if args.thesis:
        documents["thesis"] = args.paper_dir
    for name, source in documents.items():
        outputs = render(source, args.out_dir, formats=formats, renderer=args.renderer, profile="thesis")
        for fmt in formats:  # quarto names a book index.html: the workflow expects <name>.<fmt>
            target = Path(args.out_dir) / f"{name}.{fmt}"
            if Path(outputs[fmt]).resolve() != target.resolve():
                shutil.copyfile(outputs[fmt], target)
            print(f"{fmt}: {target}")


if __name__ == "__main__":
    main()
