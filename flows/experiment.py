"""The ``experiment`` Prefect flow: a lab report typed into the Prefect UI.

One flow run per experiment job. It shows what the job asks for, then suspends with
``suspend_flow_run(wait_for_input=LabReportForm)``: the Prefect UI renders the form (the
requested composition and route pre-filled). Submitting it resumes the run, which checks the
API token typed into the form and stores the report through db.lab.submit_report, i.e. the
same validation and ingestion as the CLI, CSV, REST and web channels. An invalid report
fails the run with every problem listed (nothing is written); open a new form for the job.

Suspended runs need a deployment: ``vitrify lab prefect-serve`` serves this flow as the
``experiment/lab-report`` deployment; ``vitrify lab prefect-form JOB`` (or "Run" in the UI
with a job_id) starts a run. The token typed into the form is deleted from Prefect's
storage as soon as the run has read it.
"""

from __future__ import annotations

from typing import Literal, Optional
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.context import FlowRunContext
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput
from pydantic import Field, SecretStr

from db import lab
from db import tokens, transactions
from db.reports import Report
from db.session import get_engine
from discovery.vocabulary import ProcessingRoute, SynthesisResult

DEPLOYMENT_NAME = "lab-report"
FLOW_NAME = "experiment"

ResultName = Literal[tuple(r.value for r in SynthesisResult)]  # type: ignore[valid-type]
RouteName = Literal[tuple(r.value for r in ProcessingRoute if r is not ProcessingRoute.UNKNOWN)]  # type: ignore[valid-type]


class LabReportForm(RunInput):
    """The report form the Prefect UI shows for an experiment job."""

    token: SecretStr = Field(description="Your vitrify API token (role reporter or above)")
    composition: str = Field(description="Composition as actually made, at.% (e.g. Cu50Zr45Al5)")
    result: ResultName = Field(description="What came out")  # type: ignore[valid-type]
    method: Optional[RouteName] = Field(default=None, description="Processing route (default: the job's)")  # type: ignore[valid-type]
    sample_id: Optional[str] = Field(default=None, description="Your own sample label")
    normalize: bool = Field(default=False, description="Rescale at.% that do not sum to 100 +/- 0.5")
    dmax_mm: Optional[float] = Field(default=None, description="Critical thickness Dmax (mm)")
    tg_k: Optional[float] = Field(default=None, description="Glass transition Tg (K)")
    tx_k: Optional[float] = Field(default=None, description="Crystallization onset Tx (K)")
    tl_k: Optional[float] = Field(default=None, description="Liquidus Tl (K)")
    youngs_modulus_gpa: Optional[float] = Field(default=None, description="Young's modulus (GPa)")
    reporter: Optional[str] = Field(default=None, description="Who made the sample (default: the token's holder)")
    notes: Optional[str] = None

    def to_report(self, job_id: int) -> Report:
        measurements = {
            "Dmax": (self.dmax_mm, "mm"), "Tg": (self.tg_k, "K"), "Tx": (self.tx_k, "K"), "Tl": (self.tl_k, "K"),
            "youngs_modulus": (self.youngs_modulus_gpa, "GPa"),
        }
        return Report(
            composition=self.composition, result=self.result, method=self.method, reporter=self.reporter,
            job_id=job_id, notes=self.notes, normalize=self.normalize, sample_id=self.sample_id,
            measurements={q: v for q, v in measurements.items() if v[0] is not None},
        )


def _pause_key(job_id: int) -> str:
    return f"lab-report-job-{job_id}"


def _forget_form(flow_run_id: UUID, job_id: int) -> None:
    """Delete the submitted form (it holds the token) from Prefect's storage."""
    from prefect.client.orchestration import get_client
    from prefect.input.run_input import keyset_from_base_key

    try:
        with get_client(sync_client=True) as client:
            client.delete_flow_run_input(flow_run_id, keyset_from_base_key(f"suspended-{_pause_key(job_id)}")["response"])
    except Exception as exc:  # never lose the report over housekeeping
        get_run_logger().warning("could not delete the submitted form from Prefect: %s", exc)


@flow(name=FLOW_NAME, flow_run_name="experiment-job-{job_id}", persist_result=True, log_prints=False)
def experiment_flow(job_id: int) -> dict:
    """Wait for the lab's report of one experiment job (typed into the Prefect UI), then store it."""
    logger = get_run_logger()
    engine = get_engine()
    job = transactions.read(engine, lambda s: lab.job_detail(s, job_id))
    if job["kind"] != "experiment":
        raise ValueError(f"job {job_id} is a {job['kind']} job, not a lab experiment")
    if job["status"] not in ("queued", "running"):
        raise ValueError(f"job {job_id} is not open for a report ({job['state']})")
    asked = f"{job['composition']} by {job['processing']}"
    create_markdown_artifact(
        key=f"lab-job-{job_id}",
        markdown=f"## Experiment job {job_id}\n\nPlease make **{job['composition']}** by **{job['processing']}**"
        + (f" (campaign {job['campaign']} #{job['campaign_id']}, iteration {job['iteration']})" if job["campaign_id"] else "")
        + ".\n\nWhen it is done, resume this run and fill in the form.",
    )
    method_default = job["processing"] if job["processing"] in RouteName.__args__ else None  # type: ignore[attr-defined]
    form = LabReportForm.with_initial_data(
        description=f"Report for job {job_id}: {asked}. Change the composition if what was made differs.",
        composition=job["composition"], method=method_default,
    )
    logger.info("job %s (%s) waits for the lab's report", job_id, asked)
    data = suspend_flow_run(wait_for_input=form, key=_pause_key(job_id))
    context = FlowRunContext.get()
    _forget_form(context.flow_run.id, job_id)
    token = tokens.authenticate_engine(engine, data.token.get_secret_value())
    row = lab.submit_report(engine, data.to_report(job_id), token=token, channel="prefect")
    logger.info("recorded outcome %s for job %s: %s %s", row["outcome_id"], job_id, row["composition"], row["result"])
    return row


def serve_experiment_flow(limit: int = 10) -> None:
    """Serve the deployment that runs the report forms (blocks; Ctrl-C stops it)."""
    experiment_flow.serve(name=DEPLOYMENT_NAME, limit=limit, print_starting_message=True)


def request_report_form(job_id: int) -> UUID:
    """Start an experiment flow run for a job (it suspends at once, waiting for the form)."""
    from prefect.deployments import run_deployment

    run = run_deployment(f"{FLOW_NAME}/{DEPLOYMENT_NAME}", parameters={"job_id": job_id}, timeout=0)
    return run.id
