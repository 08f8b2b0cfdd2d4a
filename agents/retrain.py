"""A campaign's retraining step: every model whose data changed is refitted, with its lineage.

After each batch the campaign retrains (agents.loop calls :func:`retrain_models`):

* the GFA ensemble on every labelled outcome it may see (literature + its own results,
  weighted by discovery.shift);
* the property models -- the modulus ensemble (E, G, K) and the bulk glass-forming-ability
  ensemble (Dmax, Rc, Tg, Tx, Tl) -- on the literature's and the campaign's measured values.
  MD results are a second fidelity, never mixed in as measurements: the modulus model is
  fitted on measured moduli and corrected by the MD-minus-model offset learned from the
  simulated compositions (discovery.fidelity), and that corrected model is what gets
  registered.

A model is refitted only when its training data changed: its training-set hash is compared
with its parent's (the campaign's newest version of that kind, else the newest outside any
campaign, i.e. ``vitrify model train``'s). Each new version is registered with its parent,
its trigger (the new rows by source and quantity) and its training set by source (and the
campaign's own rows verbatim), under the campaign's own Optuna studies. A property model is
not trained at all while neither a registered version nor the campaign's own measurements
exist for it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from sqlmodel import Session

from agents.config import campaign_config
from db.models import Campaign, ModelVersion
from db.registry import latest_model_version, load_model, save_model_version
from db.training import TrainingSetCache, md_results
from discovery.dataset import LabelledSet

#: Property model kinds a campaign retrains, with the measured quantities each learns from.
PROPERTY_KINDS: dict[str, tuple[str, ...]] = {
    "modulus-ensemble": ("youngs_modulus", "shear_modulus", "bulk_modulus"),
    "bulk-gfa-ensemble": ("Dmax", "Rc", "Tg", "Tx", "Tl"),
}
#: Member tuned per campaign retrain (the others keep their studies' best parameters).
_TUNED_MEMBER = {"modulus-ensemble": "rf", "bulk-gfa-ensemble": "et"}
_MAX_LISTED_ROWS = 2000


@dataclass
class ModelUpdate:
    """What the retraining step did for one model kind (shown in the iteration line)."""

    kind: str
    status: str  # refit | unchanged | none
    version_id: int | None = None
    parent_id: int | None = None
    reason: str = ""
    seconds: float = 0.0
    n_train: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def short(self) -> str:
        name = {"gfa-ensemble": "GFA", "modulus-ensemble": "modulus", "bulk-gfa-ensemble": "bulk"}.get(self.kind,
                                                                                                       self.kind)
        if self.status == "none":
            return f"{name} -"
        return f"{name} v{self.version_id} {'refit' if self.status == 'refit' else 'unchanged'}"


def _counts_by_source(sources) -> dict[str, int]:
    values, counts = np.unique(np.asarray(sources, dtype=object).astype(str), return_counts=True)
    return {str(v): int(c) for v, c in zip(values, counts)}


def _new_rows(before: dict | None, now: dict) -> dict:
    """Rows per source (and per quantity, for property data) that ``now`` has beyond ``before``."""
    before = before or {}
    out = {}
    for key, value in now.items():
        if isinstance(value, dict):
            sub = _new_rows(before.get(key) if isinstance(before.get(key), dict) else {}, value)
            if sub:
                out[key] = sub
        else:
            delta = int(value) - int(before.get(key, 0) or 0)
            if delta:
                out[key] = delta
    return out


def _trigger_text(new: dict) -> str:
    parts = []
    for key, value in new.items():
        if isinstance(value, dict):
            parts += [f"{n:+d} {key} {q}" for q, n in value.items()]
        else:
            parts.append(f"{value:+d} {key}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- GFA


@dataclass
class _Pending:
    """A fitted model waiting to be registered: the whole retraining step writes nothing until
    every fit is done, so an Optuna study (its own connection to the project database) never
    waits for this transaction's lock."""

    update: ModelUpdate
    save: object  # () -> ModelVersion


def retrain_gfa(session: Session, campaign: Campaign, iteration: int):
    """(a version to reuse, or a _Pending fit) and its ModelUpdate."""
    from discovery.shift import weighted
    from discovery.tuning import study_name_for, train_gfa_model
    from vitrify.settings import get_settings

    settings = get_settings()
    config = campaign_config(campaign)
    data = weighted(training_data(session, campaign), config.processing)
    digest = data.content_hash()
    own = latest_model_version(session, "gfa-ensemble", campaign_id=campaign.id)
    parent = own if own is not None and own.campaign_id == campaign.id else None
    if parent is not None and parent.train_hash == digest:
        return parent, ModelUpdate("gfa-ensemble", "unchanged", parent.id, parent.parent_id, "no new labels",
                                   n_train=parent.train_size)
    lineage_parent = parent or own  # the first campaign version descends from `model train`'s
    started = time.perf_counter()
    trained = train_gfa_model(
        data,
        n_trials=settings.optuna_trials,
        timeout_s=settings.optuna_timeout_s,
        storage=settings.sqlalchemy_url,
        study_name=study_name_for("gfa-ensemble", campaign.id),
        seed=config.seed,
        compute_metrics=settings.retrain_cv,
        selection=config.model_selection,
    )
    metrics = dict(trained.metrics)
    own_rows = np.asarray(data.sources, dtype=object) != "literature"
    metrics["n_campaign_labels"] = int(own_rows.sum())
    by_source = _counts_by_source(data.sources)
    listed = np.flatnonzero(own_rows)[:_MAX_LISTED_ROWS]
    training_set = {
        "rows": len(data), "by_source": by_source,
        "campaign_rows": [[data.canonical[i], str(data.routes[i]), int(data.labels[i]), str(data.sources[i])]
                          for i in listed],
        "held_out_systems": list(config.holdout_systems),
    }
    if settings.training_literature_rows is not None:
        training_set["literature_rows_limit"] = settings.training_literature_rows
    new = _new_rows((lineage_parent.training_set or {}).get("by_source") if lineage_parent else None, by_source)
    reason = "first model of the campaign" if parent is None else (_trigger_text(new) or "training data changed")
    update = ModelUpdate("gfa-ensemble", "refit", None, lineage_parent.id if lineage_parent else None, reason,
                         round(time.perf_counter() - started, 2), len(data))

    def save() -> ModelVersion:
        version = save_model_version(
            session, trained.model, kind=trained.kind, data=data, hyperparameters=trained.hyperparameters,
            metrics=metrics, campaign_id=campaign.id, iteration=iteration, parent_id=update.parent_id,
            trigger={"reason": reason, "new_rows": new}, training_set=training_set,
        )
        update.version_id = version.id
        return version

    return _Pending(update, save), update


# --------------------------------------------------------------------------- property models


def property_counts(data, sources=None) -> dict[str, dict[str, int]]:
    """Measured compositions per source and target of a PropertyData (its training set by
    source); ``sources`` overrides the data's own (one string for every row)."""
    counts: dict[str, dict[str, int]] = {}
    for target, values in data.targets.items():
        for i in np.flatnonzero(np.isfinite(values)):
            row_sources = sources if sources is not None else (data.sources[i] or "literature")
            for source in str(row_sources).split("+"):
                counts.setdefault(source, {}).setdefault(target, 0)
                counts[source][target] += 1
    return counts


#: Fewest measured compositions a property model is fitted on.
MIN_PROPERTY_ROWS = 10


def property_training_data(session: Session, config, kind: str, campaign_id: int | None = None):
    """The PropertyData ``kind`` learns from in a campaign with ``config``: the measured values
    it may see (its hold-out systems' literature left out), its own once it has an id."""
    from db.training import measured_values
    from discovery.bulk import bulk_data
    from discovery.modulus import modulus_data_from_values

    values, sources = measured_values(session, PROPERTY_KINDS[kind], campaign_id=campaign_id,
                                      exclude_literature_systems=set(config.holdout_systems))
    return modulus_data_from_values(values, sources) if kind == "modulus-ensemble" else bulk_data(values, sources)


def _property_data(session: Session, campaign: Campaign, kind: str):
    """(PropertyData, counts by source and quantity, MD values and descriptors) the kind learns from."""
    data = property_training_data(session, campaign_config(campaign), kind, campaign.id)
    counts = property_counts(data)
    md_values, descriptors = ({}, {})
    if kind == "modulus-ensemble":
        md_values, descriptors = md_results(session)
        if md_values:
            counts["md"] = {q: sum(1 for v in md_values.values() if q in v) for q in ("E", "G", "K")}
    return data, counts, md_values, descriptors


def _property_hash(data, md_values: dict) -> str:
    """The data's content hash (what `vitrify model train` registers), extended by the MD values."""
    if not md_values:
        return data.content_hash()
    digest = hashlib.sha256(data.content_hash().encode())
    for name in sorted(md_values):
        digest.update(repr((name, sorted(md_values[name].items()))).encode())
    return digest.hexdigest()


def retrain_property(session: Session, campaign: Campaign, iteration: int, kind: str,
                     needed: bool = False) -> ModelUpdate | _Pending:
    """Refit ``kind`` if its data changed since its parent version (see the module docstring);
    a fit comes back as a _Pending registration."""
    from discovery.fidelity import MDCorrectedModulus
    from discovery.tuning import study_name_for, train_property_model
    from vitrify.settings import get_settings

    settings = get_settings()
    config = campaign_config(campaign)
    data, counts, md_values, descriptors = _property_data(session, campaign, kind)
    digest = _property_hash(data, md_values)
    parent = latest_model_version(session, kind, campaign_id=campaign.id)
    own_measurements = any(src not in ("literature",) for src in counts)
    if parent is None and not own_measurements and not needed:
        return ModelUpdate(kind, "none", reason="no registered model and no measurements of the campaign's own")
    if parent is not None and parent.train_hash == digest:
        return ModelUpdate(kind, "unchanged", parent.id, parent.parent_id, "no new measurements",
                           n_train=parent.train_size)
    if len(data) < MIN_PROPERTY_ROWS:
        return ModelUpdate(kind, "none" if parent is None else "unchanged", None if parent is None else parent.id,
                           reason=f"{len(data)} measured compositions: too few to fit")
    started = time.perf_counter()
    trained = train_property_model(
        data, kind=kind, n_trials=settings.optuna_trials, timeout_s=settings.optuna_timeout_s,
        storage=settings.sqlalchemy_url, study_name=study_name_for(kind, campaign.id), seed=config.seed,
        tune=(_TUNED_MEMBER[kind],), compute_metrics=settings.retrain_cv, cv_folds=3,
    )
    model = trained.model
    if md_values:  # the second fidelity: registered as the corrected model
        model = MDCorrectedModulus(model, md_values, descriptors).fit()
    new = _new_rows((parent.training_set or {}).get("by_source") if parent else None, counts)
    reason = _trigger_text(new) or ("first model of the campaign" if parent is None else "training data changed")
    listed = [[data.names[i], str(data.sources[i]), {t: (None if not np.isfinite(v[i]) else round(float(v[i]), 4))
                                                     for t, v in data.targets.items()}]
              for i in range(len(data)) if data.sources[i] and data.sources[i] != "literature"][:_MAX_LISTED_ROWS]
    update = ModelUpdate(kind, "refit", None, parent.id if parent else None, reason,
                         round(time.perf_counter() - started, 2), len(data))

    def save() -> ModelVersion:
        version = save_model_version(
            session, model, kind=kind, data=data, hyperparameters=trained.hyperparameters, metrics=trained.metrics,
            campaign_id=campaign.id, iteration=iteration, parent_id=update.parent_id,
            trigger={"reason": reason, "new_rows": new},
            training_set={"rows": len(data), "by_source": counts, "campaign_rows": listed},
        )
        # the registry hashed the ensemble's data only; the version's identity includes the MD values
        version.train_hash = digest
        session.add(version)
        session.flush()
        update.version_id = version.id
        return version

    return _Pending(update, save)


@dataclass
class RetrainResult:
    gfa: ModelVersion
    updates: list[ModelUpdate] = field(default_factory=list)

    def line(self) -> str:
        return ", ".join(u.short() for u in self.updates)


def retrain_models(session: Session, campaign: Campaign, iteration: int) -> RetrainResult:
    """The campaign's retraining step: GFA, then every property model whose data changed; the
    new versions are registered once every fit is done."""
    from discovery.properties import property_spec

    config = campaign_config(campaign)
    needed = {property_spec(o.name).model_kind for o in config.objective_list()}
    gfa, update = retrain_gfa(session, campaign, iteration)
    results = [(gfa, update)]
    for kind in PROPERTY_KINDS:
        out = retrain_property(session, campaign, iteration, kind, needed=kind in needed)
        results.append((out, out.update if isinstance(out, _Pending) else out))
    for item, _ in results:
        if isinstance(item, _Pending):
            version = item.save()
            if item.update.kind == "gfa-ensemble":
                gfa = version
    return RetrainResult(gfa, [u for _, u in results])


def property_model(session: Session, campaign_id: int | None, kind: str):
    """The model of ``kind`` a campaign scores with: its own newest version, else the newest
    from ``vitrify model train`` -- corrected by the MD results when it is a modulus model
    that was not registered corrected."""
    from discovery.fidelity import MDCorrectedModulus

    version = latest_model_version(session, kind, campaign_id=campaign_id)
    if version is None:
        return None
    model = load_model(version)
    if kind == "modulus-ensemble" and not isinstance(model, MDCorrectedModulus):
        md_values, descriptors = md_results(session)
        if md_values:
            model = MDCorrectedModulus(model, md_values, descriptors).fit()
    return model


# a campaign retrains after every batch: read only what was added since (db.training)
_TRAINING_SETS = TrainingSetCache()



def visible_labelled(session: Session, campaign: Campaign) -> LabelledSet:
    """Every labelled outcome the campaign may see (cached between retrains)."""
    config = campaign_config(campaign)
    return _TRAINING_SETS.labelled_set(session, campaign_id=campaign.id, exclude_literature_systems=set(config.holdout_systems))



def training_data(session: Session, campaign: Campaign) -> LabelledSet:
    """What the campaign may learn from, minus rows the featurizer has no element data for;
    with ``VITRIFY_TRAINING_LITERATURE_ROWS`` set, a seeded sample of its literature rows."""
    from discovery.features import featurizable
    from vitrify.settings import get_settings

    data = visible_labelled(session, campaign)
    if not len(data):
        return data
    data = data.subset(featurizable(data.matrix()))
    limit = get_settings().training_literature_rows
    return data if limit is None else data.sample_literature(limit, seed=campaign_config(campaign).seed)
