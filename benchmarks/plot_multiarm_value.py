"""Why the held-out value interval of the treatment rule under-covers: where its misses lie.

  python benchmarks/plot_multiarm_value.py --replications benchmarks/results/multiarm_oracle_replications.csv \
      [--workflow results/multiarm] --out benchmarks/results/multiarm_value_errors.png

Panels: the error (estimate - truth, years) of the rule's held-out value in each replication of bench_multiarm.py,
sorted, the missed replications (the truth outside the 95% interval) in red; the same for the rule learned and valued
on arm scores with the simulator's outcome means and propensities (when the file has them: ``--oracle``); the same
for the ATE of SGLT2i against DPP-4i. With ``--workflow`` (a results/multiarm folder of the workflow, whose rule rows
also hold the value's SE and the largest inverse propensity among the patients whose own arm is the one assigned),
last: the studentised error (estimate - truth) / SE against that largest weight. Prints the share of misses above
and below the truth.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from causalehr.studies.common import save_figure  # noqa: E402


def sorted_errors(ax, frame, title):
    """Errors of one estimand, sorted, missed replications in red."""
    frame = frame.assign(error=frame["estimate"] - frame["truth"]).sort_values("error").reset_index(drop=True)
    missed = ~frame["covered"].astype(bool)
    ax.scatter(frame.index[~missed], frame.loc[~missed, "error"], s=10, color="C0", label="covered")
    ax.scatter(frame.index[missed], frame.loc[missed, "error"], s=14, color="C3", label="missed")
    ax.axhline(0, color="black", linewidth=0.8, linestyle="--")
    ax.set(title=title, xlabel="replication (sorted by error)", ylabel="estimate - truth (years)")
    above = (missed & (frame["error"] > 0)).mean()
    below = (missed & (frame["error"] < 0)).mean()
    print(f"{title}: {len(frame)} replications, missed above {above:.3f}, below {below:.3f}, "
          f"median error {frame['error'].median():.4f}, mean {frame['error'].mean():.4f}")
    return ax


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", default="benchmarks/results/multiarm_oracle_replications.csv")
    parser.add_argument("--workflow", default=None)
    parser.add_argument("--out", default="benchmarks/results/multiarm_value_errors.png")
    args = parser.parse_args()
    d = pd.read_csv(args.replications)
    shown = [(d[d["kind"] == "rule"], "rule's held-out value")]
    if (d["kind"] == "rule_oracle").any():  # bench_multiarm.py --oracle
        shown.append((d[d["kind"] == "rule_oracle"], "rule, true outcome means and propensities"))
    shown.append((d[d["contrast"] == "sglt2 - dpp4"], "ATE sglt2 - dpp4"))
    panels = len(shown) + bool(args.workflow)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.6))
    for ax, (frame, title) in zip(axes, shown):
        sorted_errors(ax, frame, title)
    axes[0].legend(frameon=False, fontsize=8)
    if args.workflow:
        rule = pd.concat(pd.read_csv(p) for p in sorted(Path(args.workflow).glob("rep*/policies.csv")))
        rule = rule[(rule["policy"] == "rule") & (rule["measure"] == "value")]
        z = (rule["estimate"] - rule["truth"]) / rule["se"]
        missed = (rule["truth"] < rule["lower"]) | (rule["truth"] > rule["upper"])
        axes[-1].scatter(rule["max_weight"], z, s=12, c=np.where(missed, "C3", "C0"))
        axes[-1].axhline(1.96, color="grey", linestyle=":"), axes[-1].axhline(-1.96, color="grey", linestyle=":")
        axes[-1].set(xscale="log", xlabel="largest inverse propensity in the rule's value",
                    ylabel="(estimate - truth) / SE", title=f"workflow, {len(rule)} replications")
    fig.tight_layout()
    save_figure(fig, args.out, source="benchmarks/plot_multiarm_value.py")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
