"""Model registry: every trained model is a ModelVersion row whose artifact reloads exactly."""

from __future__ import annotations

import hashlib
import io
import platform
from typing import Any

import joblib
from sqlalchemy import select
from sqlmodel import Session

from db.models import ModelVersion
from discovery.dataset import LabelledSet


def _environment() -> dict[str, str]:
    import numpy
    import sklearn

    import vitrify

    return {"python": platform.python_version(), "numpy": numpy.__version__, "scikit-learn": sklearn.__version__,
            "vitrify": vitrify.__version__}


def serialize(model: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer, compress=3)
    return buffer.getvalue()


def save_model_version(
    session: Session,
    model: Any,
    *,
    kind: str,
    data: LabelledSet,
    hyperparameters: dict,
    metrics: dict,
    campaign_id: int | None = None,
    iteration: int | None = None,
) -> ModelVersion:
    artifact = serialize(model)
    version = ModelVersion(
        kind=kind,
        hyperparameters=hyperparameters,
        metrics=metrics,
        train_size=len(data),
        train_hash=data.content_hash(),
        artifact=artifact,
        artifact_sha256=hashlib.sha256(artifact).hexdigest(),
        environment=_environment(),
        campaign_id=campaign_id,
        iteration=iteration,
    )
    session.add(version)
    session.flush()
    return version


def load_model(version: ModelVersion) -> Any:
    if hashlib.sha256(version.artifact).hexdigest() != version.artifact_sha256:
        raise ValueError(f"model version {version.id}: artifact hash mismatch (corrupted artifact)")
    return joblib.load(io.BytesIO(version.artifact))


def latest_model_version(session: Session, kind: str | None = None) -> ModelVersion | None:
    query = select(ModelVersion).order_by(ModelVersion.id.desc()).limit(1)
    if kind:
        query = query.where(ModelVersion.kind == kind)
    return session.exec(query).scalars().first()
