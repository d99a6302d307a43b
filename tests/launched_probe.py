"""Code location of tests/test_launched_runs.py: modelmon's definitions plus a probe.

The probe asset records what its run process sees (thread pools, environment); its sensor asks
the daemon for one run, which the daemon launches as ``make ui`` launches runs.
"""

import os

import dagster as dg
import threadpoolctl

import modelmon_dagster.definitions as modelmon

PROBE = "launched_run_limits"


@dg.asset(name=PROBE)
def probe() -> dg.MaterializeResult:
    pools = [(p["internal_api"], p["num_threads"]) for p in threadpoolctl.threadpool_info()]
    return dg.MaterializeResult(
        metadata={
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"),
            "DAGSTER_EVENT_BATCH_SIZE": os.environ.get("DAGSTER_EVENT_BATCH_SIZE", "unset"),
            "pools": dg.MetadataValue.json(pools),
        }
    )


probe_job = dg.define_asset_job(f"{PROBE}_job", selection=[probe])


@dg.sensor(job=probe_job, minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING)
def launch_probe():
    return dg.RunRequest(run_key="once")


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        modelmon.defs(), dg.Definitions(assets=[probe], jobs=[probe_job], sensors=[launch_probe])
    )
