-- Status and error-type mix per model version and hour.
with

predictions as (
    select * from {{ source('logs', 'raw_predictions') }}
    where partition_hour >= :window_start and partition_hour < :window_end
),

final as (
    select
        cast(:model_name as varchar) as model_name,
        partition_hour as hour_start,
        model_version,
        status,
        coalesce(error_type, '') as error_type,
        count(*) as n
    from predictions
    group by partition_hour, model_version, status, coalesce(error_type, '')
)

select * from final
