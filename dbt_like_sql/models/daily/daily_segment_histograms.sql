-- Daily histogram of every monitored column within each segment value: hourly counts summed.
with

hourly as (
    select * from {{ ref('hourly_segment_histograms') }}
    where model_name = :model_name
        and hour_start >= :window_start and hour_start < :window_end
),

final as (
    select
        model_name,
        cast(date_trunc('day', hour_start) as timestamp) as day_start,
        baseline_id,
        segment_column,
        segment_value,
        column_name,
        column_role,
        bin_index,
        sum(n) as n,
        sum(sum_shifted) as sum_shifted
    from hourly
    group by
        model_name, cast(date_trunc('day', hour_start) as timestamp), baseline_id,
        segment_column, segment_value, column_name, column_role, bin_index
)

select * from final
