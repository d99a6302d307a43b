-- Daily moments of every monitored column: hourly parts summed (same baseline shift only).
with

hourly as (
    select * from {{ ref('hourly_feature_stats') }}
    where model_name = :model_name
        and hour_start >= :window_start and hour_start < :window_end
),

final as (
    select
        model_name,
        cast(date_trunc('day', hour_start) as timestamp) as day_start,
        baseline_id,
        column_name,
        column_role,
        sum(n) as n,
        sum(n_null) as n_null,
        sum(n_ok) as n_ok,
        sum(n_null_ok) as n_null_ok,
        max(shift) as shift,
        sum(sum_shifted) as sum_shifted,
        sum(sumsq_shifted) as sumsq_shifted,
        min(min_value) as min_value,
        max(max_value) as max_value
    from hourly
    group by model_name, cast(date_trunc('day', hour_start) as timestamp), baseline_id, column_name, column_role
)

select * from final
