-- Daily latency histogram: hourly counts per log bin, summed. Daily percentiles come from here.
with

hourly as (
    select * from {{ ref('hourly_latency_histogram') }}
    where model_name = :model_name
        and hour_start >= :window_start and hour_start < :window_end
),

final as (
    select
        model_name,
        cast(date_trunc('day', hour_start) as timestamp) as day_start,
        bin_index,
        sum(n) as n
    from hourly
    group by model_name, cast(date_trunc('day', hour_start) as timestamp), bin_index
)

select * from final
