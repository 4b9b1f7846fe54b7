"""Privacy by subtraction (issue 20, item 1): no blanked count of a published table can be recovered from the
shown cells and margins, and no shown cell has a count or a complement n - count below the threshold."""

from pathlib import Path

import numpy as np
import pandas as pd

from causalehr.probation.suppress import suppress_small_cells

# published tables: file name -> (n column, count columns, margins as in suppress_small_cells)
AGREEMENT_MARGIN = {"within": ("source", "variable", "metric"), "by": "by", "total": "overall"}
TABLES = {
    "agreement.parquet": ("n", ("count",), (AGREEMENT_MARGIN,)),
    "quality.parquet": ("num_denominator", ("num_violated",), ()),
    "risk_coverage.parquet": ("n_accepted", ("errors",), ()),
    "calibration.parquet": ("n", (), ({"within": ("method",)},)),
    "rule_leaves.parquet": ("n", (), ()),  # case-study treatment rule: leaves of at least min_cell patients
}


def disclosures(table: pd.DataFrame, n_col: str, count_cols=(), margins=(), min_cell: int = 10) -> list[str]:
    """Every way a small or blanked count of ``table`` can be read or recovered: a shown count or n - count
    between 1 and min_cell - 1, a shown n below min_cell, and, for each margin, a value column (n and counts)
    with exactly one blanked stratum while the margin is shown (margin minus the shown strata gives it back)."""
    found = []
    shown = table[~table["suppressed"]] if "suppressed" in table else table  # no column: every row is shown
    for c in [n_col, *count_cols]:
        for i, v in shown[c].items():
            if 0 < v < min_cell or (c != n_col and 0 < shown.loc[i, n_col] - v < min_cell):
                found.append(f"row {i}: {c} = {v:g} of {shown.loc[i, n_col]:g}")
    for m in margins:
        by = m.get("by")
        strata = table[table[by] != m["total"]] if by else table
        keys = [*m["within"], *([by] if by else [])]
        for key, g in strata.groupby(keys, sort=False):
            if g["suppressed"].sum() != 1:
                continue
            if by:
                total = table[(table[by] == m["total"]).to_numpy()
                              & np.logical_and.reduce([table[c] == k for c, k in zip(m["within"], key)])]
                if total.empty or total["suppressed"].all():
                    continue
            found.append(f"margin {key}: one blanked stratum")
    return found


def hand_table():
    """Centre strata of 30, 5 and 65 patients under an overall row of 100 (counts 12, 2, 40 of 54)."""
    return pd.DataFrame({"source": "ai", "variable": "x", "metric": "omission",
                         "by": ["overall", "centre", "centre", "centre"], "stratum": ["all", "1", "2", "3"],
                         "estimate": [0.54, 0.4, 0.4, 0.615], "count": [54.0, 12.0, 2.0, 40.0],
                         "n": [100.0, 30.0, 5.0, 65.0]})


def test_checker_finds_the_count_recovered_by_subtraction():
    # primary suppression only: centre 2 blanked, but 54 - 12 - 40 = 2 and 100 - 30 - 65 = 5 give it back
    t = suppress_small_cells(hand_table(), min_cell=10)
    assert t["suppressed"].tolist() == [False, False, True, False]
    recovered = t.loc[0, "count"] - t.loc[1, "count"] - t.loc[3, "count"]
    assert recovered == 2.0
    assert disclosures(t, "n", ("count",), (AGREEMENT_MARGIN,)) == ["margin ('ai', 'x', 'omission', 'centre'): "
                                                                     "one blanked stratum"]


def test_complementary_suppression_blanks_the_next_smallest_stratum():
    t = suppress_small_cells(hand_table(), min_cell=10, margins=(AGREEMENT_MARGIN,))
    # centre 1 (n = 30) is the smallest shown stratum: blanked with centre 2; overall still shown
    assert t["suppressed"].tolist() == [False, True, True, False]
    assert t.loc[0, "count"] == 54 and np.isnan(t.loc[1, "count"])
    assert disclosures(t, "n", ("count",), (AGREEMENT_MARGIN,)) == []


def test_complement_of_a_count_is_suppressed():
    # 99 of 105 within k days: the 6 others are a small group
    t = pd.DataFrame({"source": "ai", "variable": "x", "metric": "within_k_days",
                      "by": ["overall", "centre", "centre"], "stratum": ["all", "1", "2"],
                      "count": [150.0, 99.0, 51.0], "n": [200.0, 105.0, 95.0]})
    assert disclosures(t.assign(suppressed=False), "n", ("count",)) == ["row 1: count = 99 of 105"]
    out = suppress_small_cells(t, min_cell=10, margins=(AGREEMENT_MARGIN,))
    assert out["suppressed"].tolist() == [False, True, True]


def test_a_lone_blanked_stratum_blanks_its_margin():
    # the one subgroup stratum (5 patients; the others have no subgroup) would be the margin minus nothing
    t = pd.DataFrame({"source": "ai", "variable": "x", "metric": "omission", "by": ["overall", "subgroup"],
                      "stratum": ["all", "a"], "count": [40.0, 2.0], "n": [200.0, 5.0]})
    out = suppress_small_cells(t, min_cell=10, margins=(AGREEMENT_MARGIN,))
    assert out["suppressed"].tolist() == [True, True]


def test_margin_published_elsewhere():
    # calibration groups of 40, 8, 12 patients: the method's n is published in the ATE table (60)
    t = pd.DataFrame({"method": "m", "group": [1, 2, 3], "n": [40.0, 8.0, 12.0], "estimate_mean": [1.0, 2.0, 3.0]})
    out = suppress_small_cells(t, count_cols=(), min_cell=10, margins=({"within": ("method",)},))
    assert out["suppressed"].tolist() == [False, True, True]


def check_published_tables(results: Path, min_cell: int = 10) -> dict[str, list[str]]:
    """:func:`disclosures` of every table of :data:`TABLES` written under ``results`` (by the quick config)."""
    found = {}
    for name, (n_col, counts, margins) in TABLES.items():
        for path in sorted(results.rglob(name)):
            found[str(path.relative_to(results))] = disclosures(pd.read_parquet(path), n_col, counts, margins,
                                                                min_cell)
    return found
