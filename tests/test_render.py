"""Tests of causalehr.render (Quarto sources -> HTML/PDF without quarto: pandoc + typst)."""

import datetime
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from causalehr import render as rd  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "paper"
CITE_PAREN = "(Athey et al. 2019; Cui et al. 2023)"
BIB_ENTRY = "Generalized Random Forests"


def _png(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(4, 2.5))
    ax.plot([0, 1, 2], [1.0, 0.8, 0.6])
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _paper(tmp: Path) -> Path:
    paper = tmp / "paper"
    shutil.copytree(FIXTURE, paper)
    _png(paper / "design.png")
    return paper


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    paper = _paper(tmp_path_factory.mktemp("render"))
    outputs = rd.render(paper / "fixture.qmd", paper / "_out", renderer="fallback")
    return paper, outputs


def _append(paper: Path, text: str) -> Path:
    source = paper / "fixture.qmd"
    source.write_text(source.read_text() + text)
    return source


def test_html_reads_right(rendered):
    _, outputs = rendered
    html = outputs["html"].read_text()
    body = re.sub(r"\s+", " ", html.split("<body>", 1)[1])
    # front matter: title, subtitle, authors with affiliations, abstract (with a var), keywords
    for text in ["Censored treatment effects in routine care", "A render test document", "Ada Lovelace",
                 "Department of Statistics, University College London", "Florence Nightingale",
                 "St Thomas’ Hospital, London", "We estimate the effect in 1000 patients.",
                 "causal inference, survival, electronic health records"]:
        assert text in body, text
    # cross-references: numbered captions and linked references
    assert 'Figure 1:</span> Study design' in body
    assert 'Table 1:</span> Cohort by arm' in body
    assert '<a href="#fig-design">Figure 1</a>' in body
    assert '<a href="#tbl-cohort">Table 1</a>' in body
    assert '<a href="#eq-rmst">Equation (1)</a>' in body
    assert '<a href="#eq-rmst">(1)</a>' in body  # [-@eq-rmst]
    assert '<a href="#sec-methods">Section 2</a>' in body  # section defined in the included file
    assert '<span class="header-section-number">2.1</span> Results' in body
    assert '<span class="eq-number">(1)</span>' in body
    # citations and bibliography (citeproc, Chicago author-date)
    assert CITE_PAREN in re.sub(r"<[^>]+>", "", body)
    assert "Cui et al. (<a" in body
    assert BIB_ENTRY in body and 'id="ref-cui2023"' in body and ">References</h1>" in body
    # vars, literal shortcode, self-contained images, MathML
    assert "has 1000 patients and the hazard ratio is 0.82" in body
    assert "{{&lt; var cohort.n_patients &gt;}}" in body
    assert 'src="data:image/png;base64,' in body
    assert "<math" in body and "mathjax" not in html.lower()
    assert "@fig-" not in body and "@tbl-" not in body and "??" not in body and "{{<" not in body


def test_pdf_and_typst_source(rendered):
    paper, outputs = rendered
    pdf = outputs["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 3  # title page, page break, references
    typ = outputs["typ"].read_text()
    assert "caption: [ Figure 1: Study design" in re.sub(r"\s+", " ", typ)
    assert "#link(<fig-design>)[Figure~1]" in typ
    assert 'image("fixture_files/design.png"' in typ  # image copied next to the .typ
    assert (outputs["typ"].parent / "fixture_files" / "design.png").exists()
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not installed: PDF text not checked")
    text = subprocess.run(["pdftotext", "-layout", str(outputs["pdf"]), "-"], capture_output=True,
                          text=True, check=True).stdout
    text = re.sub(r"\s+", " ", text)
    for expected in ["Figure 1: Study design", "Table 1: Cohort by arm", "the design in Figure 1",
                     "in Equation (1)", "methods are in Section 2", "2.1 Results", CITE_PAREN,
                     BIB_ENTRY, "1000 patients", "Department of Statistics, University College"]:
        assert expected in text, expected
    assert "@fig-" not in text and "??" not in text


def test_unknown_variable_is_an_error(tmp_path):
    paper = _paper(tmp_path)
    source = _append(paper, "\nWe had {{< var cohort.n_centres >}} centres.\n")
    message = (f"unknown variable 'cohort.n_centres' (used in fixture.qmd): not defined in "
               f"{paper.resolve() / '_variables.yml'}")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        rd.render(source, tmp_path / "out", renderer="fallback")


def test_variable_must_be_a_value(tmp_path):
    paper = _paper(tmp_path)
    source = _append(paper, "\n{{< var cohort >}}\n")
    with pytest.raises(ValueError, match=r"^variable 'cohort' \(used in fixture.qmd\) is a dict, not a value$"):
        rd.render(source, tmp_path / "out", formats=("html",), renderer="fallback")


def test_unresolved_cross_reference_is_an_error(tmp_path):
    paper = _paper(tmp_path)
    source = _append(paper, "\nSee @fig-missing and [@tbl-nothere].\n")
    for fmt in ("html", "pdf"):
        with pytest.raises(ValueError, match=r"^unresolved cross-reference\(s\): @fig-missing, @tbl-nothere$"):
            rd.render(source, tmp_path / "out", formats=(fmt,), renderer="fallback")
    assert not (tmp_path / "out" / "fixture.html").exists()


def test_unresolved_citation_and_missing_image_are_errors(tmp_path):
    paper = _paper(tmp_path)
    source = _append(paper, "\nAs shown [@nobody2020].\n\n![Lost](lost.png){#fig-lost}\n")
    with pytest.raises(ValueError, match=r"^unresolved citation: @nobody2020; missing resource: lost.png$"):
        rd.render(source, tmp_path / "out", formats=("html",), renderer="fallback")
    assert not (tmp_path / "out" / "fixture.html").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("\n{{< include sections/nothere.qmd >}}\n", "include file not found: {paper}/sections/nothere.qmd "
                                                   "(included from {paper}/fixture.qmd)"),
        ("\n{{< include fixture.qmd >}}\n", "circular include: fixture.qmd -> fixture.qmd"),
        ("\n{{< video https://example.org/v.mp4 >}}\n", "unsupported shortcode '{{< video >}}' in fixture.qmd"),
        ("\n![Again](design.png){#fig-design}\n", "duplicate label #fig-design"),
        ("\n{{< meta funding >}}\n", "unknown metadata key 'funding' (used in fixture.qmd): not defined in the "
                                     "front matter or _quarto.yml"),
        ("\nSee [@fig-design; @cui2023].\n", "cannot mix cross-references and citations in one bracket: "
                                            "[@fig-design; @cui2023]"),
    ],
)
def test_source_errors(tmp_path, text, message):
    paper = _paper(tmp_path)
    source = _append(paper, text)
    expected = message.replace("{paper}", str(paper.resolve()))
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        rd.render(source, tmp_path / "out", formats=("html",), renderer="fallback")


def test_number_sections_false_hides_heading_numbers_only(tmp_path):
    paper = _paper(tmp_path)
    source = paper / "fixture.qmd"
    source.write_text(source.read_text().replace("bibliography:", "number-sections: false\nbibliography:"))
    html = rd.render(source, tmp_path / "out", formats=("html",), renderer="fallback")["html"].read_text()
    assert 'class="header-section-number"' not in html and "<h1 id=\"sec-methods\">Methods</h1>" in html
    assert '<a href="#sec-methods">Section 2</a>' in re.sub(r"\s+", " ", html)


def test_typst_error_is_reported_with_its_location(tmp_path):
    paper = _paper(tmp_path)
    source = _append(paper, "\n```{=typst}\n#let x = (a b)\n```\n")
    with pytest.raises(RuntimeError, match=r"(?s)typst could not compile .*fixture.typ:\nerror: expected comma"):
        rd.render(source, tmp_path / "out", formats=("pdf",), renderer="fallback")


def test_meta_shortcode_and_plural_references(tmp_path):
    paper = _paper(tmp_path)
    _png(paper / "second.png")
    source = _append(paper, "\n![Second](second.png){#fig-second}\n\n"
                            "Title: {{< meta title >}}. Both: [see @fig-design; @fig-second].\n\n"
                            "::: {#fig-panel}\n![Left](second.png){#fig-left}\n\n![Right](design.png){#fig-right}\n\n"
                            "Two panels.\n:::\n\nPanels: @fig-panel, @fig-right and [-@fig-left].\n")
    html = rd.render(source, tmp_path / "out", formats=("html",), renderer="fallback")["html"].read_text()
    text = re.sub(r"<[^>]+>", "", re.sub(r"\s+", " ", html))
    assert "Title: Censored treatment effects in routine care." in text
    assert "Both: see Figures 1 and 2." in text
    assert "Figure 2: Second" in text
    assert "Figure 3: Two panels." in text and "(a) Left" in text and "(b) Right" in text
    assert "Panels: Figure 3, Figure 3b and 3a." in text


def test_last_modified_date_and_relative_out_dir(tmp_path, monkeypatch):
    paper = _paper(tmp_path)
    source = paper / "fixture.qmd"
    source.write_text(source.read_text().replace("date: 2026-01-15", "date: last-modified"))
    stamp = datetime.datetime(2024, 3, 9, 12, 0).timestamp()
    os.utime(source, (stamp, stamp))
    monkeypatch.chdir(tmp_path)
    outputs = rd.render(Path("paper/fixture.qmd"), Path("out"), renderer="fallback")
    assert outputs["html"] == tmp_path / "out" / "fixture.html"
    assert '<p class="date">2024-03-09</p>' in outputs["html"].read_text()
    assert "date: [2024-03-09]" in outputs["typ"].read_text()
    assert (tmp_path / "out" / "fixture_files" / "design.png").exists()


def _book(tmp: Path) -> Path:
    book = tmp / "thesis"
    (book / "chapters").mkdir(parents=True)
    shutil.copy(FIXTURE / "references.bib", book / "references.bib")
    (book / "_variables.yml").write_text("n: 42\n")
    (book / "_quarto.yml").write_text("project:\n  type: manuscript\nbibliography: references.bib\n"
                                      "format:\n  html:\n    toc: true\n")
    (book / "_quarto-thesis.yml").write_text(
        "project:\n  type: book\nbook:\n  title: A thesis on censoring\n  author: Ada Lovelace\n"
        "  chapters:\n    - chapters/intro.qmd\n    - part: Methods\n      chapters: [chapters/methods.qmd]\n")
    _png(book / "chapters" / "a.png")
    (book / "chapters" / "intro.qmd").write_text(
        "# Introduction {#sec-intro}\n\n![First](a.png){#fig-first}\n\nWe follow @athey2019.\n")
    (book / "chapters" / "methods.qmd").write_text(
        "# Methods {#sec-methods}\n\n## Data {#sec-data}\n\n![Second](a.png){#fig-second}\n\n"
        "$$ y = x $$ {#eq-line}\n\n{{< var n >}} patients; see @fig-first, @fig-second, @eq-line, @sec-data.\n")
    return book


BOOK_TEXT = ["Figure 1.1: First", "Figure 2.1: Second", "Athey, Susan",
             "42 patients; see Figure 1.1, Figure 2.1, Equation (2.1), Section 2.1."]


def test_book_project_with_profile(tmp_path):
    book = _book(tmp_path)
    outputs = rd.render(book, tmp_path / "out", renderer="fallback")  # profile "thesis"
    assert outputs["html"] == tmp_path / "out" / "thesis.html"
    text = re.sub(r"<[^>]+>", "", re.sub(r"\s+", " ", outputs["html"].read_text()))
    for expected in [*BOOK_TEXT, "A thesis on censoring", "Ada Lovelace"]:
        assert expected in text, expected
    assert outputs["pdf"].read_bytes().startswith(b"%PDF")
    typ = outputs["typ"].read_text()
    assert "pagebreak(weak: true)" in typ and "title: [A thesis on censoring]" in typ
    assert "#outline(" in typ and 'id="TOC"' in outputs["html"].read_text()  # a book opens with its contents
    with pytest.raises(ValueError, match=f"^profile 'slides': {re.escape(str(book.resolve()))}"
                                         r"/_quarto-slides.yml not found$"):
        rd.render(book, tmp_path / "out", renderer="fallback", profile="slides")


def test_book_from_list_of_chapters(tmp_path):
    book = _book(tmp_path)
    chapters = [book / "chapters" / "intro.qmd", book / "chapters" / "methods.qmd"]
    html = rd.render(chapters, tmp_path / "out", formats=("html",), renderer="fallback")["html"]
    assert html == tmp_path / "out" / "intro.html"
    text = re.sub(r"<[^>]+>", "", re.sub(r"\s+", " ", html.read_text()))
    for expected in BOOK_TEXT:
        assert expected in text, expected
    with pytest.raises(ValueError, match="^renderer 'quarto' renders a book from its project folder and profile"):
        rd.render(chapters, tmp_path / "out", renderer="quarto")


def test_auto_uses_fallback_without_quarto(rendered, tmp_path, monkeypatch, caplog):
    paper, _ = rendered
    monkeypatch.setattr(rd.shutil, "which", lambda name: None)
    with caplog.at_level(logging.INFO, logger="causalehr.render"):
        outputs = rd.render(paper / "fixture.qmd", tmp_path / "out", formats=("html",))
    assert set(outputs) == {"html"}
    assert "with the fallback (pandoc 3." in caplog.text
    with pytest.raises(ValueError, match="^renderer 'quarto': quarto is not on PATH$"):
        rd.render(paper / "fixture.qmd", tmp_path / "out", renderer="quarto")


def test_auto_uses_quarto_when_on_path(rendered, tmp_path, monkeypatch):
    paper, _ = rendered
    calls = []
    monkeypatch.setattr(rd.shutil, "which", lambda name: "/usr/local/bin/quarto")
    monkeypatch.setattr(rd.subprocess, "run", lambda command, check: calls.append(command))
    outputs = rd.render(paper / "fixture.qmd", tmp_path / "out")
    assert outputs == {"html": tmp_path / "out" / "fixture.html", "pdf": tmp_path / "out" / "fixture.pdf"}
    assert calls == [["quarto", "render", str(paper / "fixture.qmd"), "--to", to, "--output-dir",
                      str(tmp_path / "out")] for to in ("html", "typst")]
    calls.clear()
    book = _book(tmp_path)
    outputs = rd.render(book, tmp_path / "book", formats=("html",))
    assert outputs == {"html": tmp_path / "book" / "index.html"}
    assert calls == [["quarto", "render", str(book), "--to", "html", "--output-dir", str(tmp_path / "book"),
                      "--profile", "thesis"]]


def test_bad_arguments(rendered, tmp_path):
    paper, _ = rendered
    with pytest.raises(ValueError, match=r"^formats: unknown \['docx'\], expected a subset of \['html', 'pdf'\]$"):
        rd.render(paper / "fixture.qmd", tmp_path, formats=("html", "docx"))
    with pytest.raises(ValueError, match="^renderer: expected 'auto', 'quarto' or 'fallback', got 'latex'$"):
        rd.render(paper / "fixture.qmd", tmp_path, renderer="latex")
    with pytest.raises(ValueError, match="^source: expected a .qmd file, a non-empty list of chapter files or a "
                                         "project folder$"):
        rd.render([], tmp_path)


def test_command_line(rendered, tmp_path, capsys):
    paper, _ = rendered
    assert rd.main([str(paper / "fixture.qmd"), "--out-dir", str(tmp_path), "--to", "html",
                    "--renderer", "fallback"]) == 0
    assert capsys.readouterr().out == f"html: {tmp_path / 'fixture.html'}\n"
    assert (tmp_path / "fixture.html").exists()
    assert rd.main([str(FIXTURE / "fixture.qmd"), "--out-dir", str(tmp_path / "bad"), "--to", "html",
                    "--renderer", "fallback"]) == 1  # the committed fixture has no design.png
    assert capsys.readouterr().err == "causalehr.render: error: missing resource: design.png\n"
