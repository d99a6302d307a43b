-- Counts of every monitored column on the baseline's bins (quantile edges with open tails for
-- numeric columns, top-k categories plus "other" for categorical ones). Nulls are not binned.
-- One scan: GROUPING SETS builds every column's histogram in the same pass.
with

predictions as (
    select * from {{ source('logs', 'raw_predictions') }}
    where partition_hour >= :window_start and partition_hour < :window_end
),

binned as (
    select
        partition_hour as hour_start
        {%- for c in columns %}
        , {{ bin_index(c) }} as {{ q('b_' ~ loop.index) }}
        {%- endfor %}
    from predictions
),

grouped as (
    select
        hour_start
        {%- for c in columns %}
        , {{ q('b_' ~ loop.index) }}
        , grouping({{ q('b_' ~ loop.index) }}) as {{ q('g_' ~ loop.index) }}
        {%- endfor %}
        , count(*) as n
    from binned
    group by grouping sets (
        {%- for c in columns %}
        (hour_start, {{ q('b_' ~ loop.index) }}){{ "," if not loop.last }}
        {%- endfor %}
    )
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
        n
    from grouped
    where {{ q('g_' ~ loop.index) }} = 0 and {{ q('b_' ~ loop.index) }} is not null
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select * from final
