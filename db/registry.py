"""Model registry: every trained model is a ModelVersion row whose artifact reloads exactly."""

from __future__ import annotations

import hashlib
import io
import platform
import threading
from collections import OrderedDict
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
    # lz4: a campaign saves a model every iteration, and zlib spent 0.14 s per 6 MB model
    # where lz4 spends 0.06 s for 20% more bytes. joblib.load reads either format.
    buffer = io.BytesIO()
    joblib.dump(model, buffer, compress=("lz4", 1))
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
    parent_id: int | None = None,
    trigger: dict | None = None,
    training_set: dict | None = None,
) -> ModelVersion:
    """Register a trained model. ``parent_id``: the version it was refitted from; ``trigger``:
    why it was (re)fitted (the new measurements); ``training_set``: its data by source."""
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
        parent_id=parent_id,
        trigger=trigger,
        training_set=training_set,
    )
    session.add(version)
    session.flush()
    _remember(version.artifact_sha256, model)
    return version


# The models this process saved or loaded last, by artifact hash: a campaign proposes with
# the model it has just trained, so it need not read and unpickle it again. Artifacts are
# immutable and content-addressed, so a hit is exactly what the database holds.
_RECENT_MODELS: OrderedDict[str, Any] = OrderedDict()
_RECENT_LOCK = threading.Lock()
_RECENT_MAX = 2


def _remember(sha256: str, model: Any) -> None:
    with _RECENT_LOCK:
        _RECENT_MODELS[sha256] = model
        _RECENT_MODELS.move_to_end(sha256)
        while len(_RECENT_MODELS) > _RECENT_MAX:
            _RECENT_MODELS.popitem(last=False)


def clear_model_cache() -> None:
    """Forget the in-process models: the next load reads and verifies the artifact."""
    with _RECENT_LOCK:
        _RECENT_MODELS.clear()


def load_model(version: ModelVersion) -> Any:
    """The model of a version. Its artifact (read from the database only when this process
    does not hold the model already) is verified against its hash before unpickling."""
    with _RECENT_LOCK:
        cached = _RECENT_MODELS.get(version.artifact_sha256)
    if cached is not None:
        return cached
    if hashlib.sha256(version.artifact).hexdigest() != version.artifact_sha256:
        raise ValueError(f"model version {version.id}: artifact hash mismatch (corrupted artifact)")
    model = joblib.load(io.BytesIO(version.artifact))
    _remember(version.artifact_sha256, model)
    return model


def latest_model_version(session: Session, kind: str | tuple[str, ...] | None = None, *,
                         campaign_id: int | None = None, own_only: bool = False) -> ModelVersion | None:
    """The newest version (of ``kind``, or of any of several kinds); with ``campaign_id``, the
    campaign's own newest one, else (unless ``own_only``) the newest registered outside any
    campaign (``vitrify model train``). The artifact is read only when a model is loaded."""
    from sqlalchemy.orm import defer

    query = select(ModelVersion).options(defer(ModelVersion.artifact)).order_by(ModelVersion.id.desc()).limit(1)
    if kind:
        query = query.where(ModelVersion.kind.in_((kind,) if isinstance(kind, str) else tuple(kind)))
    if campaign_id is not None:
        own = session.exec(query.where(ModelVersion.campaign_id == campaign_id)).scalars().first()
        if own is not None or own_only:
            return own
        query = query.where(ModelVersion.campaign_id.is_(None))
    return session.exec(query).scalars().first()
