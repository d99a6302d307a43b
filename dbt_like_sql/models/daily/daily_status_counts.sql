-- Daily status and error-type mix per model version, summed from the hourly rows.
with

hourly as (
    select * from {{ ref('hourly_status_counts') }}
    where model_name = :model_name
        and hour_start >= :window_start and hour_start < :window_end
),

final as (
    select
        model_name,
        cast(date_trunc('day', hour_start) as timestamp) as day_start,
        model_version,
        status,
        error_type,
        sum(n) as n
    from hourly
    group by model_name, cast(date_trunc('day', hour_start) as timestamp), model_version, status, error_type
)

select * from final
