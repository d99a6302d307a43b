-- Volume, status mix, schema problems, latency and host resources of one model per hour. An hour without any
-- prediction still gets a row (n_predictions = 0), so silence is visible, not missing.
with

predictions as (
    select * from {{ source('logs', 'raw_predictions') }}
    where partition_hour >= :window_start and partition_hour < :window_end
),

spine as (
    select hour_start
    from generate_series(
        cast(:window_start as timestamp),
        cast(:window_end as timestamp) - interval '1 hour',
        interval '1 hour'
    ) as spine_hours (hour_start)
),

per_hour as (
    select
        partition_hour as hour_start,
        count(*) as n_predictions,
        sum(case when status = 'ok' then 1 else 0 end) as n_ok,
        sum(case when status = 'error' then 1 else 0 end) as n_error,
        sum(case when status = 'timeout' then 1 else 0 end) as n_timeout,
        sum(case when schema_errors is not null then 1 else 0 end) as n_schema_errors,
        count(latency_ms) as latency_n,
        sum(latency_ms) as latency_sum_ms,
        min(latency_ms) as latency_min_ms,
        max(latency_ms) as latency_max_ms,
        percentile_cont(0.5) within group (order by latency_ms) as latency_p50_ms,
        percentile_cont(0.95) within group (order by latency_ms) as latency_p95_ms,
        percentile_cont(0.99) within group (order by latency_ms) as latency_p99_ms,
        count(host_cpu_pct) as host_cpu_n,
        sum(host_cpu_pct) as host_cpu_sum,
        max(host_cpu_pct) as host_cpu_max,
        count(host_memory_mb) as host_memory_n,
        sum(host_memory_mb) as host_memory_sum,
        max(host_memory_mb) as host_memory_max,
        count(host_gpu_pct) as host_gpu_n,
        sum(host_gpu_pct) as host_gpu_sum,
        max(host_gpu_pct) as host_gpu_max,
        string_agg(distinct model_version, ',' order by model_version) as model_versions
    from predictions
    group by partition_hour
),

final as (
    select
        cast(:model_name as varchar) as model_name,
        spine.hour_start,
        coalesce(per_hour.n_predictions, 0) as n_predictions,
        coalesce(per_hour.n_ok, 0) as n_ok,
        coalesce(per_hour.n_error, 0) as n_error,
        coalesce(per_hour.n_timeout, 0) as n_timeout,
        coalesce(per_hour.n_schema_errors, 0) as n_schema_errors,
        coalesce(per_hour.latency_n, 0) as latency_n,
        per_hour.latency_sum_ms,
        per_hour.latency_min_ms,
        per_hour.latency_max_ms,
        per_hour.latency_p50_ms,
        per_hour.latency_p95_ms,
        per_hour.latency_p99_ms,
        coalesce(per_hour.host_cpu_n, 0) as host_cpu_n,
        per_hour.host_cpu_sum,
        per_hour.host_cpu_max,
        coalesce(per_hour.host_memory_n, 0) as host_memory_n,
        per_hour.host_memory_sum,
        per_hour.host_memory_max,
        coalesce(per_hour.host_gpu_n, 0) as host_gpu_n,
        per_hour.host_gpu_sum,
        per_hour.host_gpu_max,
        per_hour.model_versions
    from spine
    left join per_hour on per_hour.hour_start = spine.hour_start
)

select * from final
