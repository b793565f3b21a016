"""Control-plane operations on whole datasets: export jobs (a dataset to CSV at a location) and data deletion jobs
(the rows of listed users removed), both run in the background and polled with Describe*.

Example (through boto3)::

    personalize.create_dataset_export_job(jobName="nightly", datasetArn=dataset_arn, ingestionMode="ALL",
                                          roleArn=role, jobOutput={"s3DataDestination": {"path": "s3://b/out/"}})
    personalize.create_data_deletion_job(jobName="gdpr-42", datasetGroupArn=group_arn, roleArn=role,
                                         dataSource={"dataLocation": "s3://b/delete/users.csv"})
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from recsys.api.errors import already_exists
from recsys.api.operations import Call, list_in_groups, operation, page
from recsys.exceptions import NotFoundError, ValidationError
from recsys.resources import (
    ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_PENDING, DeletionJob, ExportJob, validate_name,
)

log = logging.getLogger(__name__)

EXPORT_JOB = "dataset-export-job"
DELETION_JOB = "data-deletion-job"


def _start(call: Call, kind: str, group: str, name: str, body: dict, work) -> str:
    """Store the job as CREATE PENDING and queue `work(store, record)`; its failure becomes failureReason."""
    validate_name(name, "job name")
    try:
        record = call.store.create_resource(kind, group, name, body, status=CREATE_PENDING)
    except Exception as exc:
        if "already exists" in str(exc):
            raise already_exists(str(exc)) from None
        raise
    store = call.store

    def run() -> None:
        try:
            store.update_resource(kind, group, name, status=CREATE_IN_PROGRESS)
            result = work(store, record)
            store.update_resource(kind, group, name, status=ACTIVE, body=result)
        except Exception as exc:  # recorded on the job: Describe* shows it
            if not isinstance(exc, ValidationError | NotFoundError):
                log.exception("%s %s failed", kind, name)
            store.update_resource(kind, group, name, status=CREATE_FAILED, failure_reason=str(exc) or type(exc).__name__)

    call.jobs.submit(record["arn"], record, run)
    return record["arn"]


# -- dataset export jobs -------------------------------------------------------------------------------------


def _export(store, record: dict) -> dict:
    from recsys import locations
    from recsys.exports import export_dataset

    dataset = store.find_resource(record["dataset_arn"])
    with tempfile.TemporaryDirectory(prefix="recsys-export-") as tmp:
        local = Path(tmp) / f"{record['name']}.csv"
        rows = export_dataset(store, record["group"], dataset["name"], local, ingestion_mode=record["ingestion_mode"])
        destination = record["job_output"]["s3DataDestination"]["path"]
        where = locations.publish(store, local, locations.output_location(destination, local.name))
    return {"rows": rows, "output_location": where}


@operation("CreateDatasetExportJob")
def create_dataset_export_job(call: Call, params: dict) -> dict:
    dataset = call.record(params["datasetArn"], "dataset", "dataset")
    call.location(params["jobOutput"]["s3DataDestination"]["path"])
    body = {"dataset_arn": dataset["arn"], "ingestion_mode": params.get("ingestionMode") or "ALL",
            "role_arn": params.get("roleArn"), "job_output": params["jobOutput"]}
    arn = _start(call, EXPORT_JOB, dataset["group"], params["jobName"], body, _export)
    call.tag(arn, params.get("tags"))
    return {"datasetExportJobArn": arn}


@operation("DescribeDatasetExportJob")
def describe_dataset_export_job(call: Call, params: dict) -> dict:
    record = call.record(params["datasetExportJobArn"], EXPORT_JOB, "dataset export job")
    return {"datasetExportJob": ExportJob.from_record(record).to_api()}


@operation("ListDatasetExportJobs")
def list_dataset_export_jobs(call: Call, params: dict) -> dict:
    if params.get("datasetArn"):
        dataset = call.record(params["datasetArn"], "dataset", "dataset")
        records = [r for r in call.store.list_resources(EXPORT_JOB, dataset["group"])
                   if r.get("dataset_arn") == dataset["arn"]]
    else:
        records = call.reachable(EXPORT_JOB)
    return page(call, params, [ExportJob.from_record(r).to_summary() for r in records], "datasetExportJobs")


# -- data deletion jobs --------------------------------------------------------------------------------------


def _delete(store, record: dict) -> dict:
    import pandas as pd

    from recsys import datasets, locations

    with locations.staged_input(store, record["data_source"]["dataLocation"]) as path:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    column = next((c for c in frame.columns if str(c).strip().upper() == "USER_ID"), None)
    if column is None:
        raise ValidationError(f"{record['data_source']['dataLocation']} has no USER_ID column (columns: "
                              f"{', '.join(map(str, frame.columns))}); give a CSV with a USER_ID header.")
    users = [u for u in frame[column].str.strip() if u]
    return {"num_deleted": datasets.delete_users(store, record["group"], users)}


@operation("CreateDataDeletionJob")
def create_data_deletion_job(call: Call, params: dict) -> dict:
    group = call.dataset_group(params["datasetGroupArn"])
    location = (params.get("dataSource") or {}).get("dataLocation")
    if not location:
        raise ValidationError("dataSource.dataLocation is required: a CSV file with a USER_ID column.")
    call.location(location)
    body = {"dataset_group_arn": call.store.arn("dataset-group", group, group), "data_source": params["dataSource"],
            "role_arn": params.get("roleArn")}
    arn = _start(call, DELETION_JOB, group, params["jobName"], body, _delete)
    call.tag(arn, params.get("tags"))
    return {"dataDeletionJobArn": arn}


@operation("DescribeDataDeletionJob")
def describe_data_deletion_job(call: Call, params: dict) -> dict:
    record = call.record(params["dataDeletionJobArn"], DELETION_JOB, "data deletion job")
    return {"dataDeletionJob": DeletionJob.from_record(record).to_api()}


@operation("ListDataDeletionJobs")
def list_data_deletion_jobs(call: Call, params: dict) -> dict:
    return list_in_groups(call, params, DELETION_JOB, DeletionJob.from_record, "dataDeletionJobs")
