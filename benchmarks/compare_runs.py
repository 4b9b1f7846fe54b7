"""Compare the tables, value files and the paper's _variables.yml of two runs of the workflow, e.g. before and after
a refactoring: each in its own clone after `make reproduce`.

    python benchmarks/compare_runs.py BEFORE_CLONE AFTER_CLONE

Prints the files only one run has, the files whose bytes differ (parquet: whether the values agree to 1e-9; YAML: the
values that differ), and the values of _variables.yml that differ or are new. Estimate files of the layout before the
output contract (rep{r}_cate.parquet) are matched with those after it (rep{r}/cate.parquet).
"""
import sys
from pathlib import Path

import pandas as pd
import yaml

before, after = map(Path, sys.argv[1:3])


def rel(p, root):
    s = str(p.relative_to(root))
    # the estimate outputs moved from rep{r}_cate.parquet to rep{r}/cate.parquet
    import re
    return re.sub(r"rep(\d+)/(cate|ate)\.parquet$", r"rep\1_\2.parquet", s)


def files(root, patterns):
    out = {}
    for pat in patterns:
        for p in (root / "results").rglob(pat):
            if "logs" in p.parts or "benchmarks" in p.parts or "notebooks" in p.parts:
                continue
            out[rel(p, root)] = p
    return out


def flatten(d, prefix=""):
    if isinstance(d, dict):
        out = {}
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): d}


b, a = files(before, ["*.md", "*.yml", "*.parquet", "*.json"]), files(after, ["*.md", "*.yml", "*.parquet", "*.json"])
print(f"files before {len(b)}, after {len(a)}; only before: {sorted(set(b) - set(a))}; only after: {sorted(set(a) - set(b))}")
same = differ = 0
for name in sorted(set(a) & set(b)):
    pb, pa = b[name], a[name]
    if pb.read_bytes() == pa.read_bytes():
        same += 1
        continue
    differ += 1
    if name.endswith(".parquet"):
        db, da = pd.read_parquet(pb), pd.read_parquet(pa)
        try:
            pd.testing.assert_frame_equal(db, da, check_exact=False, rtol=1e-9, atol=1e-12)
            print(f"~ {name}: bytes differ, values equal to 1e-9")
        except AssertionError as e:
            print(f"! {name}: {str(e).splitlines()[0:4]}")
    elif name.endswith(".yml"):
        fb, fa = flatten(yaml.safe_load(pb.read_text())), flatten(yaml.safe_load(pa.read_text()))
        changed = {k: (fb.get(k), fa.get(k)) for k in set(fb) | set(fa) if fb.get(k) != fa.get(k)}
        print(f"! {name}: {len(changed)} values differ: {dict(list(sorted(changed.items()))[:12])}")
    else:
        print(f"! {name}: text differs")
print(f"identical files: {same}; differing: {differ}")
vb = flatten(yaml.safe_load((before / "paper/_variables.yml").read_text()))
va = flatten(yaml.safe_load((after / "paper/_variables.yml").read_text()))
changed = {k: (vb.get(k), va.get(k)) for k in set(vb) | set(va) if vb.get(k) != va.get(k)}
print(f"_variables.yml: {len(vb)} values before, {len(va)} after; {len(changed)} differ or are new:")
for k, v in sorted(changed.items()):
    print("   ", k, v)
