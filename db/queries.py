"""Read-only views for ``vitrify status``, plots and the intake page (safe while a campaign runs)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlmodel import Session

from db.models import Campaign, Composition, Job, ModelVersion, Outcome, Proposal


def _fmt(ts) -> str | None:
    return ts.strftime("%Y-%m-%d %H:%M") if ts else None


def campaign_overview(session: Session) -> list[dict]:
    proposals = dict(session.exec(select(Proposal.campaign_id, func.count()).group_by(Proposal.campaign_id)).all())
    glasses = dict(
        session.exec(
            select(Job.campaign_id, func.count())
            .join(Outcome, Outcome.job_id == Job.id)
            .where(Outcome.glass_label == 1, Outcome.is_current == True)  # noqa: E712
            .group_by(Job.campaign_id)
        ).all()
    )
    out = []
    for c in session.exec(select(Campaign).order_by(Campaign.id)).scalars():
        objectives = (c.config or {}).get("objectives") or [{"name": "glass", "goal": "maximize"}]
        out.append(
            {
                "id": c.id,
                "name": c.name,
                "file": (c.campaign_file or {}).get("file"),
                "objectives": ", ".join(_objective_text(o) for o in objectives),
                "status": c.status,
                "iterations_done": c.iterations_done,
                "iterations_planned": c.iterations_planned,
                "proposals": proposals.get(c.id, 0),
                "glasses": glasses.get(c.id, 0),
                "created_at": _fmt(c.created_at),
                "finished_at": _fmt(c.finished_at),
            }
        )
    return out


def _objective_text(o: dict) -> str:
    parts = [f"{'max' if o.get('goal') == 'maximize' else 'min' if o.get('goal') == 'minimize' else ''} {o['name']}".strip()]
    if o.get("at_least") is not None:
        parts.append(f">= {o['at_least']:g}")
    if o.get("at_most") is not None:
        parts.append(f"<= {o['at_most']:g}")
    return " ".join(parts)


def job_counts(session: Session) -> Counter:
    rows = session.exec(select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)).all()
    return Counter({(kind, status): n for kind, status, n in rows})


def latest_models(session: Session, limit: int = 3) -> list[dict]:
    rows = session.exec(
        select(ModelVersion.id, ModelVersion.kind, ModelVersion.campaign_id, ModelVersion.iteration,
               ModelVersion.train_size, ModelVersion.metrics, ModelVersion.created_at)
        .order_by(ModelVersion.id.desc())
        .limit(limit)
    ).all()
    return [
        {"id": r[0], "kind": r[1], "campaign_id": r[2], "iteration": r[3], "train_size": r[4], "metrics": r[5] or {},
         "created_at": _fmt(r[6])}
        for r in rows
    ]


def best_candidates(session: Session, limit: int = 10, campaign_id: int | None = None) -> list[dict]:
    """Proposals ranked by P_GFA, with their outcome when one has arrived."""
    query = (
        select(Proposal, Composition.canonical, Outcome.result)
        .join(Composition, Proposal.composition_id == Composition.id)
        .outerjoin(Job, Job.proposal_id == Proposal.id)
        .outerjoin(Outcome, (Outcome.job_id == Job.id) & (Outcome.is_current == True))  # noqa: E712
        .order_by(Proposal.p_gfa.desc())
        .limit(limit)
    )
    if campaign_id is not None:
        query = query.where(Proposal.campaign_id == campaign_id)
    return [
        {
            "composition": canonical,
            "campaign_id": p.campaign_id,
            "iteration": p.iteration,
            "p_gfa": p.p_gfa,
            "glass_probability": p.glass_probability,
            "uncertainty": p.uncertainty,
            "outcome": result,
        }
        for p, canonical, result in session.exec(query).all()
    ]


def campaign_discovery_counts(session: Session, campaign_id: int, through_iteration: int | None = None) -> list[int]:
    """Cumulative glasses found after each pick, in the order the campaign picked (only the
    picks of iterations up to ``through_iteration``, if given)."""
    query = (
        select(Proposal.iteration, Proposal.rank, Outcome.glass_label)
        .outerjoin(Job, Job.proposal_id == Proposal.id)
        .outerjoin(Outcome, (Outcome.job_id == Job.id) & (Outcome.is_current == True))  # noqa: E712
        .where(Proposal.campaign_id == campaign_id)
        .order_by(Proposal.iteration, Proposal.rank)
    )
    if through_iteration is not None:
        query = query.where(Proposal.iteration <= through_iteration)
    rows = session.exec(query).all()
    counts, total = [], 0
    for _, _, label in rows:
        total += int(label == 1)
        counts.append(total)
    return counts


def proposal_prediction(proposal: Proposal, name: str) -> tuple[float | None, float | None]:
    """(mean, std) the model predicted for property ``name`` when it made ``proposal``."""
    stored = (proposal.predictions or {}).get(name)
    if stored:
        return stored.get("mean"), stored.get("std")
    if name == "glass":
        return proposal.glass_probability, proposal.uncertainty
    if name == "p_gfa":
        return proposal.p_gfa, None
    if name == "youngs_modulus_gpa":
        return proposal.modulus_gpa, proposal.modulus_uncertainty_gpa
    return None, None


def _measured(name: str, glass_label, quantities: dict) -> float | None:
    from discovery.properties import PROPERTIES

    if name == "glass":
        return None if glass_label is None else float(glass_label)
    if name == "trg" and {"Tg", "Tl"} <= set(quantities):
        return quantities["Tg"] / quantities["Tl"]
    if name == "gamma" and {"Tg", "Tl", "Tx"} <= set(quantities):
        return quantities["Tx"] / (quantities["Tg"] + quantities["Tl"])
    quantity = PROPERTIES[name].quantity
    return quantities.get(quantity) if quantity else None


def campaign_observations(session: Session, campaign_id: int, names: list[str]) -> list[dict]:
    """The campaign's results as points in objective space, one per current outcome of its jobs.

    Each point: ``{"composition", "fidelity", "values": {name: value}, "measured": {name: bool}}``.
    A property the outcome measured (P(glass) is its glass label, 1 or 0; Trg and gamma
    follow from measured Tg, Tx, Tl) is taken as measured; otherwise the value the model
    predicted when the composition was proposed stands in (None if there is neither).
    Outcomes with nothing measured for any of ``names`` are left out.
    """
    from db.models import Measurement

    rows = session.exec(
        select(Outcome.id, Outcome.glass_label, Outcome.fidelity, Composition.canonical, Proposal)
        .join(Job, Outcome.job_id == Job.id)
        .join(Composition, Outcome.composition_id == Composition.id)
        .outerjoin(Proposal, Job.proposal_id == Proposal.id)
        .where(Job.campaign_id == campaign_id, Outcome.is_current == True)  # noqa: E712
        .order_by(Outcome.id)
    ).all()
    if not rows:
        return []
    quantities: dict[int, dict] = {}
    for outcome_id, quantity, value in session.exec(
        select(Measurement.outcome_id, Measurement.quantity, Measurement.value)
        .where(Measurement.outcome_id.in_([r[0] for r in rows]))
        .order_by(Measurement.id)
    ).all():
        quantities.setdefault(outcome_id, {})[quantity] = value
    out = []
    for outcome_id, label, fidelity, canonical, proposal in rows:
        values, measured = {}, {}
        for name in names:
            value = _measured(name, label, quantities.get(outcome_id, {}))
            measured[name] = value is not None
            if value is None and proposal is not None:
                value = proposal_prediction(proposal, name)[0]
            values[name] = value
        if any(measured.values()):
            out.append({"composition": canonical, "fidelity": fidelity, "values": values, "measured": measured})
    return out


# --------------------------------------------------------------------------- model lineage

#: The headline metric of each model kind in listings: (label, metrics key).
HEADLINE_METRICS = {
    "gfa-ensemble": [("AUC", "grouped_cv_roc_auc"), ("Sun E", "grouped_cv_sun_e")],
    "gfa-svm": [("AUC", "grouped_cv_roc_auc"), ("Sun E", "grouped_cv_sun_e")],
    "modulus-ensemble": [("E MAE", "grouped_cv_E_ensemble_mae")],
    "bulk-gfa-ensemble": [("Dmax RMSE", "grouped_cv_dmax_mm_ensemble_rmse"), ("Tg MAE", "grouped_cv_tg_k_ensemble_mae")],
}


def _version_row(v: ModelVersion, scored: int) -> dict:
    metrics = v.metrics or {}
    return {
        "id": v.id, "kind": v.kind, "parent": v.parent_id, "campaign_id": v.campaign_id, "iteration": v.iteration,
        "created_at": _fmt(v.created_at), "train_size": v.train_size, "train_hash": v.train_hash,
        "trigger": (v.trigger or {}).get("reason"), "new_rows": (v.trigger or {}).get("new_rows"),
        "selection": (v.hyperparameters or {}).get("selection") or metrics.get("selection"),
        "metrics": {label: metrics.get(key) for label, key in HEADLINE_METRICS.get(v.kind, [])},
        "proposals_scored": scored,
    }


def model_history(session: Session, *, kind: str | None = None, campaign_id: int | None = None,
                  limit: int = 200) -> list[dict]:
    """Model versions newest first with parent, trigger, headline metrics and the number of
    proposals each scored; ``campaign_id``: the campaign's versions and the ones they descend from."""
    from sqlalchemy.orm import defer

    query = select(ModelVersion).options(defer(ModelVersion.artifact)).order_by(ModelVersion.id.desc())
    if kind:
        query = query.where(ModelVersion.kind == kind)
    versions = list(session.exec(query).scalars())
    if campaign_id is not None:
        by_id = {v.id: v for v in versions}
        keep: set[int] = set()
        for v in versions:
            if v.campaign_id == campaign_id:
                while v is not None and v.id not in keep:  # the chain up to the versions it came from
                    keep.add(v.id)
                    v = by_id.get(v.parent_id)
        versions = [v for v in versions if v.id in keep]
    versions = versions[:limit]
    ids = [v.id for v in versions]
    scored = dict(session.exec(select(Proposal.model_version_id, func.count()).where(Proposal.model_version_id.in_(ids))
                               .group_by(Proposal.model_version_id)).all()) if ids else {}
    return [_version_row(v, scored.get(v.id, 0)) for v in versions]


def model_detail(session: Session, version_id: int) -> dict | None:
    """One version: its lineage, hyperparameters, metrics and training set by source."""
    v = session.get(ModelVersion, version_id)
    if v is None:
        return None
    scored = session.exec(select(func.count()).select_from(Proposal).where(Proposal.model_version_id == v.id)).scalar_one()
    row = _version_row(v, scored)
    metrics = {k: val for k, val in (v.metrics or {}).items() if k not in ("report", "parity", "optuna")}
    row.update({"hyperparameters": v.hyperparameters, "all_metrics": metrics, "training_set": v.training_set,
                "environment": v.environment, "artifact_sha256": v.artifact_sha256})
    return row


def canonical_names(session: Session, composition_ids) -> dict[int, str]:
    """Canonical formula of each composition id."""
    ids = set(composition_ids)
    if not ids:
        return {}
    return dict(session.exec(select(Composition.id, Composition.canonical).where(Composition.id.in_(ids))).all())
