"""Publishing a campaign's iteration reports as Prefect artifacts, in iteration order, while
the loop goes on (the reports themselves are drawn on Ray by flows.report)."""

from __future__ import annotations

from agents.config import CampaignConfig
from db.session import session_scope
from vitrify.settings import get_settings


class IterationReports:
    """Each iteration's report is drawn on Ray (flows/report.py) while the loop goes on, and
    published as a Prefect artifact in iteration order as soon as it is ready. The batch
    table is published at once. A failed report is logged; it never fails the campaign."""

    def __init__(self, campaign_id: int, config: CampaignConfig, logger):
        self.campaign_id, self.config, self.logger = campaign_id, config, logger
        self.pending: list[tuple[dict, object]] = []

    def submit(self, iteration: int, batch: list[dict], row: dict) -> None:
        from prefect.artifacts import create_table_artifact

        from agents.ray_runtime import ensure_ray
        from flows.remote import WORKER_MODULES, render_remote
        from flows.report import batch_artifact_rows, batch_outcomes

        key = f"campaign-{self.campaign_id}"
        with session_scope() as session:  # the batch has been answered (replay) or is pending (lab)
            outcomes = batch_outcomes(session, self.campaign_id, iteration)
        create_table_artifact(key=f"{key}-batch", table=batch_artifact_rows(batch, outcomes),
                              description=f"Campaign {self.campaign_id}, iteration {iteration}: the batch, its "
                              "predictions and the outcome of each pick once known")
        try:
            ensure_ray(warm_modules=WORKER_MODULES)
            ref = render_remote().remote(get_settings().sqlalchemy_url, self.campaign_id, iteration,
                                          self.config.model_dump(mode="json"), batch, dict(row))
        except Exception as exc:  # reporting must not stop a campaign (e.g. a lab campaign without Ray)
            self.logger.warning("iteration %s: the report could not be submitted: %r", iteration, exc)
            return
        self.pending.append((row, ref))

    def publish(self, wait: bool = False) -> None:
        import ray
        from prefect.artifacts import create_markdown_artifact

        while self.pending:
            row, ref = self.pending[0]
            if not wait and not ray.wait([ref], timeout=0)[0]:
                return
            self.pending.pop(0)
            try:
                report = ray.get(ref, timeout=600)
            except Exception as exc:
                self.logger.warning("iteration %s: the report failed: %r", row["iteration"], exc)
                continue
            plots = get_settings().plots_dir
            plots.mkdir(parents=True, exist_ok=True)
            for name, png in report["pngs"].items():
                (plots / name).write_bytes(png)
            create_markdown_artifact(key=f"campaign-{self.campaign_id}-iteration", markdown=report["markdown"],
                                     description=f"Iteration {row['iteration']} summary")
            row["report_seconds"] = report["seconds"]
