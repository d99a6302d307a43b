-- Counts of every monitored column on the baseline's bins (quantile edges with open tails for
-- numeric columns, top-k categories plus "other" for categorical ones). Nulls are not binned.
with

predictions as (
    select * from {{ source('logs', 'raw_predictions') }}
    where partition_hour >= :window_start and partition_hour < :window_end
),

binned as materialized (
    select
        partition_hour as hour_start
        {%- for c in columns %}
        , {{ bin_index(c) }} as {{ q('b_' ~ loop.index) }}
        {%- endfor %}
    from predictions
),

final as (
    {%- for c in columns %}
    select
        cast(:model_name as varchar) as model_name,
        hour_start,
        cast({{ baseline_id() }} as varchar) as baseline_id,
        cast({{ lit(c.name) }} as varchar) as column_name,
        cast({{ lit(c.role) }} as varchar) as column_role,
        {{ q('b_' ~ loop.index) }} as bin_index,
        count(*) as n
    from binned
    where {{ q('b_' ~ loop.index) }} is not null
    group by hour_start, {{ q('b_' ~ loop.index) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select * from final
