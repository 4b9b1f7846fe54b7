"""Render the Quarto sources of the paper to HTML and PDF, with or without Quarto.

``quarto render`` is used when ``quarto`` is on PATH. Otherwise the same ``.qmd`` sources are
rendered by a fallback written for this project (quarto-cli cannot be installed everywhere):

1. Quarto shortcodes are expanded in Python: ``{{< include path >}}`` (recursive, relative to the
   including file, ``/path`` relative to the project), ``{{< var key.subkey >}}`` from the
   project's ``_variables.yml`` (an unknown key is an error, Quarto would print a blank),
   ``{{< meta key >}}`` from the front matter and ``{{< pagebreak >}}``; ``{{{< ... >}}}`` is a
   literal shortcode.
2. pandoc (binary from ``pypandoc-binary``) reads the result as pandoc markdown, with the Lua
   filters of ``paper/filters`` (``quarto-meta.lua``: Quarto author/affiliation schema;
   ``crossref.lua``: Quarto cross-references ``@fig-``/``@tbl-``/``@eq-``/``@sec-``) and
   ``--citeproc``. An unresolved cross-reference, citation or image is an error naming it.
3. HTML: standalone, self-contained (images and CSS embedded), MathML (no network needed).
   PDF: pandoc's typst writer, images copied next to the ``.typ`` file, compiled by ``typst``.

Project metadata is read as Quarto does: top-level keys of ``_quarto.yml`` (e.g. ``bibliography``)
apply to every document, the document's front matter wins. A list of sources, or a project folder
with a profile (``_quarto-thesis.yml``, chapters in ``book.chapters``), is rendered as one book:
chapters concatenated in order, numbering per chapter ("Figure 2.1"), title block from ``book``.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pypandoc
import typst
import yaml

log = logging.getLogger(__name__)

FILTERS_DIR = Path(__file__).resolve().parents[2] / "paper" / "filters"
FORMATS = ("html", "pdf")
SHORTCODE = re.compile(r"(\{?)\{\{<\s*([\w-]+)\s*(.*?)\s*>\}\}(\}?)")
FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n(?:---|\.\.\.)\s*\n", re.DOTALL)
PANDOC_WARNINGS = {
    re.compile(r"Citeproc: citation (\S+) not found"): "unresolved citation: @{}",
    re.compile(r"Could not fetch resource (.+?)(?::|$)"): "missing resource: {}",
}
# keys of _quarto.yml that configure quarto rather than the document
PROJECT_KEYS = {"project", "manuscript", "book", "website", "format", "profile", "execute", "crossref", "engine"}
BOOK_KEYS = ("title", "subtitle", "author", "date", "abstract", "keywords")


def project_dir(source: Path) -> Path:
    """Nearest ancestor of ``source`` holding ``_quarto.yml`` (else the source's folder)."""
    for folder in source.resolve().parents:
        if (folder / "_quarto.yml").exists():
            return folder
    return source.resolve().parent


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        both_dicts = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if both_dicts else value
    return merged


def project_config(project: Path, profile: str | None = None) -> dict:
    """``_quarto.yml`` of ``project`` merged with ``_quarto-{profile}.yml`` (profile wins)."""
    config = {}
    files = [project / "_quarto.yml"] + ([project / f"_quarto-{profile}.yml"] if profile else [])
    for path in files:
        if path.exists():
            config = _merge(config, yaml.safe_load(path.read_text()) or {})
        elif path.name != "_quarto.yml":
            raise ValueError(f"profile '{profile}': {path} not found")
    return config


def book_chapters(project: Path, profile: str) -> list[Path]:
    """Chapter files of the book in ``_quarto-{profile}.yml`` (``book.chapters``, parts flattened)."""
    chapters = project_config(project, profile).get("book", {}).get("chapters")
    if not chapters:
        raise ValueError(f"profile '{profile}': no book.chapters in {project}/_quarto*.yml")
    files = []
    for entry in chapters:
        files += entry.get("chapters", []) if isinstance(entry, dict) else [entry]
    return [project / f for f in files]


def _lookup(mapping: dict, key: str, what: str, where: Path, origin: str):
    value = mapping
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ValueError(f"unknown {what} '{key}' (used in {where.name}): not defined in {origin}")
        value = value[part]
    if isinstance(value, (dict, list)):
        raise ValueError(f"{what} '{key}' (used in {where.name}) is a {type(value).__name__}, not a value")
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


class _Expander:
    """Expands Quarto shortcodes of one document (one book) in plain text.

    ``meta`` is the project metadata; the front matter of the first file is merged over it.
    """

    def __init__(self, project: Path, meta: dict):
        self.project = project
        self.var_file = project / "_variables.yml"
        self.variables = (yaml.safe_load(self.var_file.read_text()) or {}) if self.var_file.exists() else {}
        self.meta = meta
        self.front_matter_read = False
        self.folders: list[Path] = []  # folders of all expanded files: pandoc's resource path

    def expand(self, path: Path, stack: tuple[Path, ...] = ()) -> str:
        path = path.resolve()
        if path in stack:
            chain = " -> ".join(p.name for p in (*stack, path))
            raise ValueError(f"circular include: {chain}")
        if not path.exists():
            where = f" (included from {stack[-1]})" if stack else ""
            raise ValueError(f"include file not found: {path}{where}")
        text = path.read_text(encoding="utf-8")
        if path.parent not in self.folders:
            self.folders.append(path.parent)
        if not self.front_matter_read:
            match = FRONT_MATTER.match(text)
            self.meta = self.meta | ((yaml.safe_load(match.group(1)) or {}) if match else {})
            self.front_matter_read = True
        return SHORTCODE.sub(lambda m: self._replace(m, path, (*stack, path)), text)

    def _replace(self, match: re.Match, path: Path, stack: tuple[Path, ...]) -> str:
        open_brace, name, argument, close_brace = match.groups()
        if open_brace and close_brace:
            return match.group(0)[1:-1]
        if name == "include":
            target = self.project / argument.lstrip("/") if argument.startswith("/") else path.parent / argument
            return self.expand(target, stack)
        if name == "var":
            origin = str(self.var_file) if self.var_file.exists() else f"{self.project} (no _variables.yml)"
            return _lookup(self.variables, argument, "variable", path, origin)
        if name == "meta":
            return _lookup(self.meta, argument, "metadata key", path, "the front matter or _quarto.yml")
        if name == "pagebreak":
            return ('\n\n```{=html}\n<div style="page-break-after: always;"></div>\n```\n\n'
                    "```{=typst}\n#pagebreak()\n```\n\n")
        raise ValueError(f"unsupported shortcode '{{{{< {name} >}}}}' in {path.name}")


def _special_date(meta: dict, sources: Sequence[Path]) -> list[str]:
    """Quarto's ``date: today`` / ``date: last-modified`` (newest source file) as pandoc metadata."""
    if meta.get("date") == "today":
        day = datetime.date.today()
    elif meta.get("date") == "last-modified":
        day = datetime.date.fromtimestamp(max(Path(s).stat().st_mtime for s in sources))
    else:
        return []
    return ["--metadata", f"date={day.isoformat()}"]


def _run_pandoc(markdown: str, folders: list[Path], args: list[str], output: Path) -> None:
    """Run pandoc from the project folder (``folders[-1]``); images and bibliography are looked up in
    the folders of all source files, then the project."""
    filters = [FILTERS_DIR / "quarto-meta.lua", FILTERS_DIR / "crossref.lua"]
    for lua in filters:
        if not lua.exists():
            raise FileNotFoundError(f"Lua filter not found: {lua}")
    command = [pypandoc.get_pandoc_path(), "--from", "markdown", "--standalone", "--output", str(output),
               "--resource-path", os.pathsep.join(map(str, folders)),
               "--lua-filter", str(filters[0]), "--lua-filter", str(filters[1]), "--citeproc", *args]
    result = subprocess.run(command, input=markdown, capture_output=True, text=True, cwd=folders[-1])
    if result.returncode != 0:
        output.unlink(missing_ok=True)
        found = re.search(r"causalehr-render: (.*)", result.stderr)
        if found:
            raise ValueError(found.group(1))
        raise RuntimeError(f"pandoc failed ({result.returncode}):\n{result.stderr}")
    errors = [message.format(m.group(1)) for line in result.stderr.splitlines()
              for pattern, message in PANDOC_WARNINGS.items() if (m := pattern.search(line))]
    if errors:
        output.unlink(missing_ok=True)
        raise ValueError("; ".join(errors))
    if result.stderr.strip():
        log.warning("pandoc: %s", result.stderr.strip())


def _render_fallback(sources: Sequence[Path], out_dir: Path, formats: Sequence[str],
                     profile: str | None) -> dict[str, Path]:
    project = project_dir(sources[0])
    config = project_config(project, profile)
    project_meta = {k: v for k, v in config.items() if k not in PROJECT_KEYS}
    project_meta |= {k: v for k, v in config.get("book", {}).items() if k in BOOK_KEYS}
    expander = _Expander(project, project_meta)
    markdown = "\n\n".join(expander.expand(source) for source in sources)
    folders = [*expander.folders, project]
    metadata = _special_date(expander.meta, sources)
    if profile or len(sources) > 1:
        metadata += ["--metadata", "crossref-chapters=true"]
    if profile:  # a book opens with its table of contents, as quarto's books do
        metadata += ["--toc", "--toc-depth=2"]
    with tempfile.TemporaryDirectory() as tmp:
        meta_file = Path(tmp) / "project-metadata.yml"
        meta_file.write_text(yaml.safe_dump(project_meta, allow_unicode=True))
        metadata += ["--metadata-file", str(meta_file)]
        return _pandoc_and_typst(markdown, folders, metadata, out_dir, profile or sources[0].stem, formats)


def _pandoc_and_typst(markdown: str, folders: list[Path], metadata: list[str], out_dir: Path, stem: str,
                      formats: Sequence[str]) -> dict[str, Path]:
    outputs: dict[str, Path] = {}
    if "html" in formats:
        outputs["html"] = out_dir / f"{stem}.html"
        _run_pandoc(markdown, folders, [*metadata, "--to", "html5", "--embed-resources", "--mathml",
                               "--variable", "document-css=true", "--css", str(FILTERS_DIR / "causalehr.css")],
                    outputs["html"])
    if "pdf" in formats:
        outputs["typ"] = out_dir / f"{stem}.typ"
        media = out_dir / f"{stem}_files"
        _run_pandoc(markdown, folders, [*metadata, "--to", "typst", "--extract-media", str(media)], outputs["typ"])
        # pandoc writes absolute media paths; typst resolves "/..." against its root (out_dir)
        typ = outputs["typ"].read_text(encoding="utf-8")
        outputs["typ"].write_text(typ.replace(f'image("{media}/', f'image("{media.name}/'), encoding="utf-8")
        outputs["pdf"] = out_dir / f"{stem}.pdf"
        try:
            typst.compile(str(outputs["typ"]), output=str(outputs["pdf"]), root=str(out_dir))
        except typst.TypstError as error:
            raise RuntimeError(f"typst could not compile {outputs['typ']}:\n{error.diagnostic}") from error
    return outputs


def _render_quarto(source: Path, out_dir: Path, formats: Sequence[str], profile: str | None) -> dict[str, Path]:
    """``quarto render`` one format at a time (typst for PDF); a folder is a book project."""
    outputs = {}
    for fmt in formats:
        command = ["quarto", "render", str(source), "--to", "typst" if fmt == "pdf" else fmt,
                   "--output-dir", str(out_dir)]
        subprocess.run(command + (["--profile", profile] if profile else []), check=True)
        outputs[fmt] = out_dir / (f"index.{fmt}" if profile else f"{source.stem}.{fmt}")
    return outputs


def render(source: Path | Sequence[Path], out_dir: Path, formats: Sequence[str] = FORMATS,
           renderer: str = "auto", profile: str = "thesis") -> dict[str, Path]:
    """Render a ``.qmd`` file, a list of chapter files or a book project to HTML and/or PDF.

    ``source``: a ``.qmd`` file; a list of ``.qmd`` files (one book, chapters in that order); or a
    project folder, rendered as the book of ``_quarto-{profile}.yml``. ``renderer``: "quarto",
    "fallback" (pandoc + typst) or "auto" (quarto if on PATH, except for a list of files, which
    only the fallback renders). Returns the output paths by format (the fallback adds "typ", the
    typst source of the PDF); the renderer used is logged.
    """
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        book_profile, sources = profile, book_chapters(Path(source).resolve(), profile)
    else:
        book_profile = None
        sources = [Path(source)] if isinstance(source, (str, Path)) else [Path(s) for s in source]
    if not sources:
        raise ValueError("source: expected a .qmd file, a non-empty list of chapter files or a project folder")
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"formats: unknown {unknown}, expected a subset of {list(FORMATS)}")
    if renderer not in ("auto", "quarto", "fallback"):
        raise ValueError(f"renderer: expected 'auto', 'quarto' or 'fallback', got {renderer!r}")
    as_list = len(sources) > 1 and book_profile is None
    if renderer == "quarto" and as_list:
        raise ValueError("renderer 'quarto' renders a book from its project folder and profile, not a list of files")
    if renderer == "quarto" and shutil.which("quarto") is None:
        raise ValueError("renderer 'quarto': quarto is not on PATH")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    if renderer == "quarto" or (renderer == "auto" and not as_list and shutil.which("quarto")):
        log.info("rendering %s with quarto", source)
        target = Path(source) if book_profile else sources[0]
        return _render_quarto(target, out_dir, formats, book_profile)
    log.info("rendering %s with the fallback (pandoc %s + typst %s)", ", ".join(map(str, sources)),
             pypandoc.get_pandoc_version(), typst.__version__)
    return _render_fallback(sources, out_dir, formats, book_profile)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m causalehr.render SOURCE [SOURCE ...] --out-dir DIR [--to html,pdf]``
    (SOURCE a .qmd file, chapter files, or a project folder rendered as the book of ``--profile``)."""
    parser = argparse.ArgumentParser(prog="python -m causalehr.render", description=main.__doc__)
    parser.add_argument("sources", nargs="+", type=Path, help=".qmd file, chapter files, or a project folder")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--to", default="html,pdf", help="comma-separated formats (html, pdf)")
    parser.add_argument("--renderer", default="auto", choices=["auto", "quarto", "fallback"])
    parser.add_argument("--profile", default="thesis", help="book profile when SOURCE is a project folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    source = args.sources[0] if len(args.sources) == 1 else args.sources
    try:
        outputs = render(source, args.out_dir, formats=tuple(args.to.split(",")), renderer=args.renderer,
                         profile=args.profile)
    except (ValueError, RuntimeError) as error:
        print(f"causalehr.render: error: {error}", file=sys.stderr)
        return 1
    for fmt, path in outputs.items():
        print(f"{fmt}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
