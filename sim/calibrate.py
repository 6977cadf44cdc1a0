"""Calibration of the global parameters against the observed record, honest about overfitting.

The loss of a parameter point (every term scaled so that 1 is about one unit of tolerance):
  crps       mean CRPS of the fitted capitals' fall days, per 2 days;
  order      1 - median tau-b against the observed order of the fitted capitals, per 0.1;
  kabul      |median simulated - observed| fall day of Kabul, per 2 days (only when Kabul is fitted);
  districts  mean absolute error of the national district share on the LWJ dates used, per 0.05.
Every trial runs an ensemble with the same seed (common random numbers), so trials differ by their parameters,
not their luck. Optuna's TPE sampler searches the Params bounds; the study lives in SQLite in the results folder,
so an interrupted calibration resumes. Trials run in batches on any executor (local pool or Dask) and are told
in the order they were asked, so the search does not depend on which worker finished first.

Held-out validation: with fit_until, only the capitals fallen by that date (and the district figures before it)
enter the loss; the others are scored afterwards, beside the null models restricted to them. Cross-validation
splits the capitals into k folds, fits on the others and scores each held-out fold.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .ensemble import run_ensemble
from .metrics import censored, crps_with_tolerance, kendall_tau_b, null_models, observed, seeded_capitals
from .params import Params
from .progress import progress_bar
from .scenario import Scenario
from .rules import NOT_FALLEN
from .seeding import DEFAULT_DISTRICT_TOTAL, observed_fall_days
from .world import World, day_index, world_for

# The global parameters calibrated by default: the targeting weights, the timing parameters and the campaign
# and siege thresholds. The force sizes, air and prison parameters stay at their sourced values.
CALIBRATED = ("target_north_weight", "target_crossing_weight", "target_east_weight", "target_momentum_weight",
              "target_holdout_weight", "rural_rate", "rural_morale_exponent", "road_cut_rate",
              "siege_morale_rate", "isolation_morale_rate", "withdrawal_morale_drop", "surrender_threshold",
              "surrender_rate", "cascade_national", "cascade_neighbour", "siege_threshold",
              "held_capital_control_cap", "campaign_gate_progress")
SCALES = {"crps": 2.0, "order": 0.1, "kabul": 2.0, "districts": 0.05, "held": 0.1}


@dataclass(frozen=True)
class Target:
    """What a loss is computed on: the fitted capitals (mask over provinces), the district dates used, and the day
    through which the capitals not fitted were known to hold (None: nothing known of them)."""

    fit: np.ndarray  # (P,) bool
    district_until: dt.date | None  # use LWJ figures dated before this (None: all)
    held_through: int | None = None  # day index: the others were still held at its end
    exclude: tuple[int, ...] = ()  # capitals left out of the loss altogether (a cross-validation fold)
    known_on: dt.date | None = None  # the information cut-off: runs see the record as known that morning

    def without(self, capitals) -> "Target":
        """The same target with some capitals left out entirely: neither fitted nor counted as held."""
        fit = self.fit.copy()
        fit[capitals] = False
        return Target(fit, self.district_until, self.held_through,
                      tuple(sorted(set(self.exclude) | {int(i) for i in capitals})), self.known_on)

    def world(self, world: World) -> World:
        """What the runs of a trial see: `world` as known at the cut-off (whole without one)."""
        return world if self.known_on is None else world.known_on(self.known_on)


def target_until(world: World, fit_until: dt.date | None) -> Target:
    """What was known at the end of `fit_until`: the falls reported by then, the LWJ figures dated before it and
    published by then, that every other capital still held, and for the runs the record as known the next
    morning (sim/data.py Record.known_on). None: the whole record."""
    if fit_until is None:
        return Target(np.ones(world.n_provinces, bool), None)
    known_on = fit_until + dt.timedelta(days=1)
    obs = observed_fall_days(world.known_on(known_on))
    return Target((obs >= 0) & (obs <= day_index(fit_until)), fit_until, day_index(fit_until), known_on=known_on)


def loss_terms(result, world: World, target: Target) -> dict[str, float]:
    from .metrics import over_blocks

    obs = observed(world, result.start_day, result.end_day, seeded_capitals(result))
    keep = target.fit[obs.index]
    idx, day, tol = obs.index[keep], obs.day[keep], obs.tolerance[keep]
    column = lambda i: censored(result.fall_day[:, i], result.end_day)  # noqa: E731 (one (n,) copy at a time)
    terms = {}
    if len(idx):  # before the first fall there is nothing to time or to order
        terms["crps"] = float(np.mean([crps_with_tolerance(column(i), d, int(t)) for i, d, t in zip(idx, day, tol)]))
    if len(idx) > 2:
        tau = over_blocks(result.fall_day, lambda fd: kendall_tau_b(censored(fd[:, idx], result.end_day), day))
        # A run in which none of the fitted capitals fell has no order at all: count it as tau-b 0.
        terms["order"] = float(1.0 - np.median(np.where(np.isnan(tau), 0.0, tau)))
    if target.fit[world.kabul]:
        terms["kabul"] = float(abs(np.median(column(world.kabul)) - observed_fall_days(world)[world.kabul]))
    errors = []
    for o in world.record.district_series:
        d = day_index(o.as_of)
        if result.start_day <= d <= result.end_day and (target.district_until is None or o.as_of < target.district_until):
            errors.append(abs(result.district_share_on(d).mean() - o.taliban / (o.total or DEFAULT_DISTRICT_TOTAL)))
    if errors:
        terms["districts"] = float(np.mean(errors))
    if target.held_through is not None:
        # Known by the cutoff: the capitals that had not fallen still held. A run that makes them fall earlier
        # contradicts it; the term is the mean chance of such a fall.
        early = [i for i in obs.index if not target.fit[i] and i not in target.exclude]
        if early:
            fd = result.fall_day[:, early]
            terms["held"] = float(np.mean((fd != NOT_FALLEN) & (fd <= target.held_through)))
    return terms


def total_loss(terms: dict[str, float]) -> float:
    return float(sum(v / SCALES[k] for k, v in terms.items()))


def run_trial(task) -> dict:
    """One trial in a worker: (values, scenario, replicates, seed, target[, data dir]) -> loss terms and loss."""
    values, scenario, replicates, seed, target, *rest = task
    world = target.world(world_for(rest[0] if rest else None))
    params = scenario.params.replace(**values)
    r = run_ensemble(params, replicates, seed, scenario.start, scenario.end, world,
                     interventions=scenario.events, initial=scenario.initial, daily=False)
    terms = loss_terms(r, world, target)
    return {"terms": terms, "loss": total_loss(terms)}


class CalibrationError(Exception):
    """The calibration cannot go on (its study cannot be written, or every trial fails): one line."""


MAX_FAILED_BATCHES = 3  # batches in a row in which every trial raised: then stop, with the last error


def sampler_seed(seed: int) -> int:
    """Optuna's samplers take 32-bit seeds; the project's rule is 0 .. 2^63 - 1. Seeds below 2^32 are used as
    they are (so earlier studies stay reproducible); larger ones are hashed down with SeedSequence."""
    return seed if seed < 2**32 else int(np.random.SeedSequence(seed).generate_state(1)[0])


def definition(scenario: Scenario, fit_until: dt.date | None, replicates: int, seed: int, world: World,
               names=CALIBRATED) -> dict:
    """What defines a calibration: a stored study is resumed only for the very same definition."""
    from .store import data_checksums

    spec = Params.spec()
    return {"scenario_text": scenario.text, "fit_until": fit_until.isoformat() if fit_until else None,
            "replicates": int(replicates), "seed": int(seed), "calibrated": list(names),
            "bounds": {n: [spec[n]["lo"], spec[n]["hi"]] for n in names}, "loss_scales": SCALES,
            "data_sha256": data_checksums(world)}


def prepare_folder(out: Path, scenario: Scenario, fit_until, replicates: int, seed: int, world: World,
                   force: bool = False) -> None:
    """Create the calibration folder with its manifest, or check that its study is this very calibration (same
    scenario, cut-off, replicates, seed, bounds, loss and data), so that a resumed study never mixes two.
    Call with the folder's writer lock held."""
    from . import folders, store

    out = Path(out)
    wanted = json.loads(store.to_json(definition(scenario, fit_until, replicates, seed, world)))
    exists = folders.check_target(out, "calibration", force)
    meta = folders.read_manifest(out) if exists else None
    if folders.same_definition(out, "calibration", meta, wanted, force):
        return
    if exists and meta is None and not force and any(p.name == "study.db" for p in out.iterdir()):
        raise folders.FolderError(f"--out {out}: holds a study from an earlier version, whose definition is not "
                                  "recorded; use another --out folder, or --force to replace it")
    if exists:
        folders.clear_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    store.write_json(out / "manifest.json", {**store.stamp("calibration"), "name": out.name,
                                             "scenario": scenario.name, "definition": wanted})


PRIOR_SAMPLES = 24  # Latin-hypercube points over the bounds that open every study (fixed, so a resume is the same)


def prior_sample(names, n: int, seed: int) -> list[dict]:
    """n points of a Latin hypercube over the Params bounds of `names` (the uniform prior), seeded."""
    from scipy.stats import qmc

    spec = Params.spec()
    lo = np.array([spec[k]["lo"] for k in names], float)
    hi = np.array([spec[k]["hi"] for k in names], float)
    x = qmc.scale(qmc.LatinHypercube(d=len(names), seed=np.random.default_rng(seed)).random(n), lo, hi)
    return [dict(zip(names, map(float, row))) for row in x]


def completed_trials(study) -> int:
    import optuna

    return sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def calibrate(scenario: Scenario, world: World, out: Path, executor, n_trials: int, replicates: int, seed: int,
              target: Target, names=CALIBRATED, batch: int = 2, progress: bool = True, study_name: str = "calibration",
              data_dir: str | None = None):
    """Run (or resume) an Optuna TPE study to n_trials completed trials; returns the study (the search's copy in
    memory: its finished trials are those study.db holds).

    A trial that raises is told as failed and not counted; MAX_FAILED_BATCHES batches in a row of nothing but
    failures stop the calibration. A study that cannot be written (a full disk, a read-only folder) raises
    CalibrationError naming the file."""
    import sqlite3

    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "study.db"
    try:
        storage = _open_study_storage(db)
        try:
            study = _calibrate(scenario, storage, executor, n_trials, replicates, seed, target, names, batch,
                               progress, study_name, data_dir)
        except BaseException:  # stopped or failed: fold back if that is quick, else the next run will
            _close_study_storage(storage, db, wait=1.0, quiet=True)
            raise
        _close_study_storage(storage, db)
        return study
    except (SQLAlchemyError, optuna.exceptions.StorageInternalError, sqlite3.Error) as exc:
        cause = getattr(exc, "orig", None) or exc.__cause__ or exc
        raise CalibrationError(f"cannot write the calibration study {db}: {cause}") from None


# The study's SQLite file while trials are written: in write-ahead-log mode with synchronous=NORMAL, a commit
# does not wait for the disk (the default rollback journal waits two or three times a commit; there is one commit
# a batch of trials, see _calibrate). A killed process loses nothing it had committed; a power cut may lose the
# last trials, never the file. When the calibration ends (or stops), the file goes back to the default journal,
# so no -wal/-shm files stay beside it and later readers (plot opens it read-only) see one plain file.


def _synchronous_normal(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _set_journal_mode(db: Path, mode: str, wait: float = 60.0) -> None:
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(db, timeout=wait)) as con:  # the mode is stored in the file
        con.execute(f"PRAGMA journal_mode={mode}").fetchone()


def _open_study_storage(db: Path):
    import optuna
    import sqlalchemy

    _set_journal_mode(db, "WAL")
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
    sqlalchemy.event.listen(storage.engine, "connect", _synchronous_normal)
    storage.engine.dispose()  # the connection made while creating the tables had no listener yet
    return storage


def _close_study_storage(storage, db: Path, wait: float = 60.0, quiet: bool = False) -> None:
    """Back to SQLite's default journal; the storage stays usable (reads after this open new connections).
    quiet: on the way out of a failure, give up after `wait` seconds without raising."""
    import sqlite3

    storage.remove_session()
    storage.engine.dispose()
    try:
        if db.exists():
            _set_journal_mode(db, "DELETE", wait)
    except sqlite3.Error:
        if not quiet:
            raise


def _calibrate(scenario, storage, executor, n_trials, replicates, seed, target, names, batch, progress, study_name,
               data_dir):
    import optuna

    stored = optuna.create_study(study_name=study_name, storage=storage, direction="minimize", load_if_exists=True)
    # Trials asked but never told (a run interrupted by an earlier version) are marked failed, not counted twice.
    for t in stored.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        stored.tell(t.number, state=optuna.trial.TrialState.FAIL)
    # The search runs on a copy of the study in memory, and every batch, once told, is appended to the stored
    # study in one transaction (_append_trials): through SQLite, Optuna's bookkeeping (a commit for every
    # parameter, a reread of every trial at every ask) cost the main process more than the workers' trials
    # (cProfile of validate: 48 s of 73) while the workers waited. Same trials, same order, same file; a resume
    # reloads it.
    sampler = optuna.samplers.TPESampler(seed=sampler_seed(seed), n_startup_trials=PRIOR_SAMPLES)
    study = optuna.create_study(study_name=study_name, direction="minimize", sampler=sampler)
    finished = stored.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                         optuna.trial.TrialState.FAIL))
    study.add_trials(finished)
    next_number = len(stored.get_trials(deepcopy=False))
    # Start from the prior, not from a tuned default: a Latin hypercube over the bounds (the points not yet asked
    # when resuming), then TPE.
    asked_from_prior = sum("fixed_params" in t.system_attrs for t in finished)
    for row in prior_sample(names, PRIOR_SAMPLES, seed)[asked_from_prior:]:
        study.enqueue_trial(row)
    spec = Params.spec()
    done = completed_trials(study)
    bar = None
    if progress:
        bar = progress_bar(n_trials, study_name, "trial", initial=done)
    failed_batches, last_error = 0, None
    told_trials = []  # told, not yet in the file: written while the next batch runs, or on the way out

    def write_told():
        nonlocal next_number, told_trials
        if told_trials:
            _append_trials(storage, stored._study_id, next_number, told_trials)
            next_number, told_trials = next_number + len(told_trials), []

    try:
        while done < n_trials:
            k = min(batch, n_trials - done)
            trials = [study.ask() for _ in range(k)]
            futures = []
            for t in trials:
                values = {n: t.suggest_float(n, spec[n]["lo"], spec[n]["hi"]) for n in names}
                futures.append(executor.submit(run_trial, (values, scenario, replicates, seed, target, data_dir)))
            write_told()
            told = 0
            for t, f in zip(trials, futures):  # told in the order asked: independent of which worker finished first
                try:
                    result = f.result()
                except Exception as exc:  # noqa: BLE001 - a failing trial is recorded as failed, not counted
                    last_error = f"{type(exc).__name__}: {exc}"
                    study.tell(t, state=optuna.trial.TrialState.FAIL)
                    continue
                for key, v in result["terms"].items():
                    t.set_user_attr(key, v)
                study.tell(t, result["loss"])
                told += 1
            by_number = study.get_trials(deepcopy=False)  # (the prior's points hold their numbers from the start)
            told_trials = [by_number[t.number] for t in trials]
            done += told
            failed_batches = 0 if told else failed_batches + 1
            if failed_batches >= MAX_FAILED_BATCHES:
                raise CalibrationError(f"{MAX_FAILED_BATCHES * k} trials in a row failed; the last: {last_error}")
            if bar is not None:
                bar.update(told)
    except BaseException:
        try:  # keep what was told; a second failure here must not hide the first
            write_told()
        except Exception:  # noqa: BLE001
            pass
        raise
    write_told()
    if bar is not None:
        bar.close()
    return study


def _append_trials(storage, study_id: int, first_number: int, trials) -> None:
    """Append finished trials to a stored study in one transaction: the rows Optuna's own Study.add_trial writes
    (RDBStorage._get_prepared_new_trial), without its lookups and checks for every row (21 ms a trial, measured),
    which a study written by this process alone does not need. tests/test_sweep.py reads the file back with
    optuna.load_study and holds it equal to the trials told, on each CI Python's Optuna."""
    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models

    rows = []
    for number, t in enumerate(trials, first_number):
        trial = models.TrialModel(study_id=study_id, number=number, state=t.state, datetime_start=t.datetime_start,
                                  datetime_complete=t.datetime_complete)
        rows.append(trial)
        if t.value is not None:
            value, kind = models.TrialValueModel.value_to_stored_repr(t.value)
            rows.append(models.TrialValueModel(trial=trial, objective=0, value=value, value_type=kind))
        for name, v in t.params.items():
            dist = t.distributions[name]
            rows.append(models.TrialParamModel(trial=trial, param_name=name, param_value=dist.to_internal_repr(v),
                                               distribution_json=distribution_to_json(dist)))
        for model, attrs in ((models.TrialUserAttributeModel, t.user_attrs),
                             (models.TrialSystemAttributeModel, t.system_attrs)):
            rows.extend(model(trial=trial, key=key, value_json=json.dumps(v)) for key, v in attrs.items())
    session = storage.scoped_session()
    try:
        session.add_all(rows)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def score_capitals(result, world: World, mask: np.ndarray) -> dict:
    """tau-b, MAE and CRPS of the capitals in `mask` (scored ones only), with the nulls restricted to them."""
    obs = observed(world, result.start_day, result.end_day, seeded_capitals(result) | ~mask)
    days = censored(result.fall_day[:, obs.index], result.end_day)
    tau = kendall_tau_b(days, obs.day)
    nulls = null_models(world, obs)
    return {"n_capitals": len(obs.index), "tau_b_median_run": float(np.nanmedian(tau)),
            "tau_b_median_dates": float(kendall_tau_b(np.median(days, axis=0)[None, :], obs.day)[0]),
            "mae_days": float(np.mean(np.maximum(np.abs(days - obs.day) - obs.tolerance, 0))),
            "crps_days": float(np.mean([crps_with_tolerance(days[:, k], obs.day[k], int(obs.tolerance[k]))
                                        for k in range(len(obs.index))])),
            "nulls_tau_b": {k: v["tau_b"] for k, v in nulls.items()}}


def calibrated_toml(scenario: Scenario, best: dict, note: str) -> str:
    lines = [f'name = "{scenario.name}-calibrated"',
             f'description = """Calibrated from {scenario.name}. {note}"""',
             f"start = {scenario.start.isoformat()}", f"end = {scenario.end.isoformat()}",
             f"replicates = {scenario.replicates}", f"seed = {scenario.seed}",
             f"hindsight = {str(scenario.hindsight).lower()}", "", "[params]"]
    merged = {**scenario.params.changed(), **best}
    for k in Params.names():
        if k in merged:
            v = merged[k]
            lines.append(f"{k} = {str(v).lower() if isinstance(v, bool) else repr(float(v))}")
    text = "\n".join(lines) + "\n"
    if scenario.events or not scenario.initial.is_empty:
        text += "\n# events and [initial] of the base scenario\n" + _tail(scenario.text)
    return text


def _tail(text: str) -> str:
    """The [initial] and [[events]] sections of a scenario file, as written."""
    keep, out = False, []
    for line in text.splitlines():
        if line.strip().startswith("[") and not line.strip().startswith("[params]"):
            keep = True
        elif line.strip().startswith("[params]"):
            keep = False
        if keep:
            out.append(line)
    return "\n".join(out) + "\n"


def abc_rejection(scenario: Scenario, executor, n_samples: int, accept: float, replicates: int, seed: int,
                  target: Target, names=CALIBRATED, progress: bool = True, data_dir: str | None = None):
    """Approximate Bayesian computation by rejection: n_samples points from the uniform prior over the Params
    bounds (a Latin hypercube), each run as an ensemble on the same seed; the `accept` share with the smallest
    loss (the distance to the record) is the approximate posterior. Returns (samples, losses, accepted mask)."""
    points = prior_sample(names, n_samples, seed)
    x = np.array([[p[n] for n in names] for p in points])
    futures = [executor.submit(run_trial, (p, scenario, replicates, seed, target, data_dir)) for p in points]
    bar = None
    if progress:
        bar = progress_bar(n_samples, "ABC", "sample")
    losses = np.empty(n_samples)
    for k, f in enumerate(futures):  # in submission order: the result does not depend on the workers
        losses[k] = f.result()["loss"]
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    threshold = np.quantile(losses, accept)
    return x, losses, losses <= threshold


def _run(scenario: Scenario, params: Params, replicates: int, seed: int, world: World):
    return run_ensemble(params, replicates, seed, scenario.start, scenario.end, world,
                        interventions=scenario.events, initial=scenario.initial, daily=False)


def folds_by_fall_date(world: World, capitals: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """k folds over `capitals` (indices), stratified by observed fall date: sorted by date (a seeded shuffle breaks
    ties; capitals still held come last) and dealt out in turn, so every fold spans the whole campaign."""
    obs = observed_fall_days(world).astype(float)
    day = np.where(obs < 0, np.inf, obs)[capitals]
    shuffle = np.random.default_rng(seed).permutation(len(capitals))
    order = capitals[shuffle][np.argsort(day[shuffle], kind="stable")]
    return [order[f::k] for f in range(k)]


def cross_validate(scenario: Scenario, world: World, out: Path, executor, k: int, trials: int, replicates: int,
                   seed: int, batch: int, progress: bool, data_dir: str | None = None,
                   target: Target | None = None, medians: bool = False) -> dict:
    """k folds over the fitted capitals (all 34 without a cut-off), stratified by fall date: calibrate on what
    was known less the fold (its capitals neither fitted nor counted as held), predict the fold's median fall
    days; the out-of-fold tau-b over the fitted capitals, beside the same figure in sample."""
    from .metrics import censored

    target = target or Target(np.ones(world.n_provinces, bool), None)
    fitted = np.flatnonzero(target.fit)
    if not 2 <= k <= len(fitted):
        raise ValueError(f"{k} folds over {len(fitted)} fitted capitals")
    oof = np.zeros(world.n_provinces)
    for f, fold in enumerate(folds_by_fall_date(world, fitted, k, seed)):
        name = f"cv-{k}-fold-{f}"
        study = calibrate(scenario, world, out, executor, trials, replicates, seed, target.without(fold),
                          batch=batch, progress=progress, study_name=name, data_dir=data_dir)
        r = _run(scenario, scenario.params.replace(**study.best_params), replicates, seed, target.world(world))
        oof[fold] = np.median(censored(r.fall_day, r.end_day)[:, fold], axis=0)
    obs = observed(world, day_index(scenario.start), day_index(scenario.end))
    keep = target.fit[obs.index]
    out = {"folds": k, "trials_per_fold": trials, "capitals": int(keep.sum()),
           "out_of_fold_tau_b_median_dates": float(kendall_tau_b(oof[obs.index][keep][None, :], obs.day[keep])[0])}
    if medians:  # every province's out-of-fold median fall day (0 where not fitted)
        out["out_of_fold_medians"] = oof.tolist()
    return out


def fresh_seed_scores(scenario: Scenario, world: World, best: dict, replicates: int, seed: int, target: Target,
                      n_seeds: int = 5) -> list[dict]:
    """The best point re-run on fresh seeds (seeing the record as known at the cut-off): its fit on all
    capitals, in sample and held out, each time, scored against the whole record."""
    params = scenario.params.replace(**best)
    out = []
    for k in range(1, n_seeds + 1):
        r = _run(scenario, params, replicates, seed + 1000 * k, target.world(world))
        out.append({"all_capitals": score_capitals(r, world, np.ones(world.n_provinces, bool)),
                    "in_sample": score_capitals(r, world, target.fit),
                    "held_out": score_capitals(r, world, ~target.fit) if (~target.fit).sum() > 2 else None,
                    "terms": loss_terms(r, target.world(world), target)})
    return out


def abc_posterior(scenario: Scenario, executor, out: Path, n_samples: int, accept: float, replicates: int,
                  seed: int, target: Target, progress: bool, data_dir: str | None = None) -> dict:
    """ABC rejection (see abc_rejection), with the samples stored in abc_samples.parquet and a marginals figure."""
    import pyarrow as pa

    from . import folders, store

    samples, losses, accepted = abc_rejection(scenario, executor, n_samples, accept, replicates, seed, target,
                                              progress=progress, data_dir=data_dir)
    cols = {n: samples[:, k] for k, n in enumerate(CALIBRATED)}
    store._atomic_parquet(pa.table({**cols, "loss": losses, "accepted": accepted}), out / "abc_samples.parquet")
    from .plots import abc_marginals  # the same figure `plot` redraws from abc_samples.parquet

    fig, _ = abc_marginals(list(CALIBRATED), samples, accepted, f"ABC rejection: {int(accepted.sum())} of "
                           f"{n_samples} prior samples accepted (those closest to the record)")
    folders.save_figure(fig, out / "abc.png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return {"samples": n_samples, "accepted": int(accepted.sum()),
            "posterior_mean": {n: float(samples[accepted, k].mean()) for k, n in enumerate(CALIBRATED)},
            "posterior_sd": {n: float(samples[accepted, k].std()) for k, n in enumerate(CALIBRATED)}}
