"""The campaign flow as a Prefect deployment with an overnight schedule."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from agents.config import CampaignConfig

ENTRYPOINT = "flows/campaign.py:campaign_flow"


def ensure_work_pool(name: str, pool_type: str = "process") -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=name, type=pool_type))
        except ObjectAlreadyExists:
            pass


def deploy_campaign(
    config: CampaignConfig, *, name: str, cron: str, timezone: str, work_pool: str, source: Path,
    campaign_file: dict | None = None,
) -> UUID:
    """Create or update ``campaign/<name>``: each scheduled run starts a new campaign from
    ``config`` (stored with ``campaign_file``, the document it came from, if given)."""
    from prefect import flow as prefect_flow
    from prefect.schedules import Cron

    ensure_work_pool(work_pool)
    flow = prefect_flow.from_source(source=str(Path(source).resolve()), entrypoint=ENTRYPOINT)
    return flow.deploy(
        name=name,
        work_pool_name=work_pool,
        schedules=[Cron(cron, timezone=timezone)],
        parameters={"config": config.model_dump(mode="json"),
                    **({"campaign_file": campaign_file} if campaign_file is not None else {})},
        tags=["vitrify", f"agent-{config.agent.name}"],
        description=f"vitrify campaign '{config.name}': {config.iterations} iterations or until {config.until} {timezone}",
        build=False,
        push=False,
        print_next_steps=False,
        ignore_warnings=True,  # a process pool is the embedded choice, not a mistake
    )
