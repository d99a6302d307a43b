-- Latency counts on fixed log-spaced bins (50 per decade): mergeable across hours and days.
with

predictions as (
    select * from {{ source('logs', 'raw_predictions') }}
    where partition_hour >= :window_start and partition_hour < :window_end
        and latency_ms is not null
),

final as (
    select
        cast(:model_name as varchar) as model_name,
        partition_hour as hour_start,
        {{ latency_bin }} as bin_index,
        count(*) as n
    from predictions
    group by partition_hour, {{ latency_bin }}
)

select * from final
