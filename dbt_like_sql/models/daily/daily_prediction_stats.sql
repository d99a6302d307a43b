-- Daily volume, status mix and latency summary: the sum of the day's hourly rows, no rescan.
-- hours_present < 24 means some hourly partitions of the day were never materialised.
with

hourly as (
    select * from {{ ref('hourly_prediction_stats') }}
    where model_name = :model_name
        and hour_start >= :window_start and hour_start < :window_end
),

final as (
    select
        model_name,
        cast(date_trunc('day', hour_start) as timestamp) as day_start,
        count(*) as hours_present,
        sum(case when n_predictions > 0 then 1 else 0 end) as hours_with_predictions,
        sum(n_predictions) as n_predictions,
        sum(n_ok) as n_ok,
        sum(n_error) as n_error,
        sum(n_timeout) as n_timeout,
        sum(n_schema_errors) as n_schema_errors,
        sum(latency_n) as latency_n,
        sum(latency_sum_ms) as latency_sum_ms,
        min(latency_min_ms) as latency_min_ms,
        max(latency_max_ms) as latency_max_ms,
        sum(host_cpu_n) as host_cpu_n,
        sum(host_cpu_sum) as host_cpu_sum,
        max(host_cpu_max) as host_cpu_max,
        sum(host_memory_n) as host_memory_n,
        sum(host_memory_sum) as host_memory_sum,
        max(host_memory_max) as host_memory_max,
        sum(host_gpu_n) as host_gpu_n,
        sum(host_gpu_sum) as host_gpu_sum,
        max(host_gpu_max) as host_gpu_max
    from hourly
    group by model_name, cast(date_trunc('day', hour_start) as timestamp)
)

select * from final
