"""Quickstart: the model from Python, as a researcher would use it in a notebook.

A plain script with `# %%` cells rather than a .ipynb: VS Code, PyCharm, Spyder and JupyterLab (with jupytext) run
it cell by cell like a notebook, while CI runs it whole with plain `python` (tests/test_examples.py), with no
Jupyter kernel to install and no stored outputs to go stale; it also diffs and reviews as code.
`jupytext --to ipynb examples/quickstart.py` makes a notebook of it.

    python examples/quickstart.py            # about 15 s; writes ./quickstart-output/ (figures and a run folder)

It runs a small ensemble through the API (sim.run), plots the distribution of Kabul's fall date and the capitals
held over time, compares a what-if on common random numbers, runs Mesa's own batch_run on TerritoryModel, saves
the run and reads it back (sim.read_results, and pandas on the Parquet file directly), and replays one run from its
stored seed.
"""

# %% Setup: where the outputs go
import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import mesa
import numpy as np
import pandas as pd

import sim

OUT = Path(os.environ.get("QUICKSTART_OUT", "quickstart-output"))
OUT.mkdir(parents=True, exist_ok=True)

# %% 1. A small ensemble: 300 runs of the baseline scenario, with a fixed seed
res = sim.run("baseline", runs=300, seed=1)
print(res)
print(res.falls.head())  # one row per run and capital; fell_on is a datetime64 column (NaT: the capital held)
print(res.metrics[["median", "p10", "p90"]].round(3))  # the fit to the observed record, per run

# %% 2. When did Kabul fall? (observed: 15 August 2021)
kabul = res.falls[res.falls["province"] == "Kabul"]
fell = kabul["fell_on"].dropna()
print(f"Kabul fell in {len(fell) / len(kabul):.0%} of the runs; median date when it did: {fell.median():%d %b %Y}")
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.hist(fell, bins=pd.date_range("2021-07-15", "2021-09-07", freq="2D"), color="tab:red", alpha=0.7)
ax.axvline(pd.Timestamp("2021-08-15"), color="black", linestyle="--", label="observed: 15 Aug")
ax.set(title=f"Kabul's fall date in {len(kabul)} runs ({len(kabul) - len(fell)} held to 6 Sep)",
       ylabel="runs")
ax.legend()
fig.autofmt_xdate()
fig.savefig(OUT / "kabul_fall_date.png", dpi=100, bbox_inches="tight")
plt.close(fig)

# %% 3. Capitals held over time: the median run and the 10-90 % band, from res.daily, beside the record
from sim.api import held_from_fall_days  # noqa: E402
from sim.seeding import observed_fall_days  # noqa: E402

band = res.daily.groupby("date")["capitals_held"].quantile([0.1, 0.5, 0.9]).unstack()
observed = held_from_fall_days(observed_fall_days(res.world)[None, :], 0, len(band) - 1)[0]
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.fill_between(band.index, band[0.1], band[0.9], alpha=0.3, label="10-90 % of runs")
ax.plot(band.index, band[0.5], label="median run")
ax.step(band.index, observed, where="post", color="black", label="observed")
ax.set(title="Capitals held by the government", ylabel="capitals (of 34)")
ax.legend()
fig.autofmt_xdate()
fig.savefig(OUT / "capitals_held.png", dpi=100, bbox_inches="tight")
plt.close(fig)

# %% 4. A what-if on common random numbers: a weaker morale cascade between neighbours
weak = sim.run("baseline", runs=300, seed=1, cascade_neighbour=0.03)
aug31 = pd.Timestamp("2021-08-31")
held = {name: r.daily[r.daily["date"] == aug31].set_index("run_id")["capitals_held"]
        for name, r in (("baseline", res), ("cascade_neighbour=0.03", weak))}
diff = held["cascade_neighbour=0.03"] - held["baseline"]  # paired by run: the same seeds
print(f"capitals held on 31 Aug: {held['baseline'].mean():.2f} -> {held['cascade_neighbour=0.03'].mean():.2f} "
      f"(paired difference {diff.mean():+.2f} +- {1.96 * diff.std() / np.sqrt(len(diff)):.2f})")

# %% 5. Mesa's own batch_run: parameters as keywords, one row per run and capital
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # Mesa 3.5 prefers rng=[...] to iterations=
    rows = mesa.batch_run(sim.TerritoryModel, parameters={"cascade_neighbour": [0.03, 0.15]}, iterations=2,
                          number_processes=1, data_collection_period=-1, display_progress=False)
batch = pd.DataFrame(rows)
print(batch.loc[batch["province"] == "Kabul", ["RunId", "cascade_neighbour", "seed", "fell_on", "fall_how"]])

# %% 6. Save the run, read it back, and read the Parquet file with pandas directly
folder = res.save(OUT / "baseline-300")
again = sim.read_results(folder)
assert again.equals(res)
table = pd.read_parquet(folder / "fall_days.parquet")
print(table.dtypes)
print("median fall date over all runs and capitals:", table["fell_on"].median())

# %% 7. Replay one run from its stored seed (the rows of res.falls for that run, simulated again)
replayed = res.replay(42)
assert replayed.equals(res.falls[res.falls["run_id"] == 42].reset_index(drop=True))
print(f"run 42 replayed from seed {replayed['seed'].iloc[0]}: the same {replayed['fell_on'].notna().sum()} falls")
print(f"figures and the run folder are in {OUT.resolve()}")
