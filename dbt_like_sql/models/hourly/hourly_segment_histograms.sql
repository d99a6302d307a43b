-- Histogram of every monitored column within each value of each segment column (config
-- `segments`), on the baseline's bins, in one scan. Drift inside a segment is judged against
-- the segment's own reference. A model without segments writes no rows.
with

predictions as (
    select * from {{ source('logs', 'raw_predictions') }}
    where partition_hour >= :window_start and partition_hour < :window_end
),

{%- if segment_columns %}

binned as (
    select
        partition_hour as hour_start
        {%- for s in segment_columns %}
        , {{ q(s.sql_column) }} as {{ q('s_' ~ loop.index) }}
        {%- endfor %}
        {%- for c in columns %}
        , {{ bin_index(c) }} as {{ q('b_' ~ loop.index) }}
        {%- endfor %}
    from predictions
),

grouped as (
    select
        hour_start
        {%- for s in segment_columns %}
        , {{ q('s_' ~ loop.index) }}
        {%- endfor %}
        {%- for c in columns %}
        , {{ q('b_' ~ loop.index) }}
        {%- endfor %}
        {%- for s in segment_columns %}
        {%- set si = loop.index %}
        {%- for c in columns %}
        , grouping({{ q('s_' ~ si) }}, {{ q('b_' ~ loop.index) }}) as {{ q('g_' ~ si ~ '_' ~ loop.index) }}
        {%- endfor %}
        {%- endfor %}
        , count(*) as n
    from binned
    group by grouping sets (
        {%- for s in segment_columns %}
        {%- set si = loop.index %}
        {%- set outer_last = loop.last %}
        {%- for c in columns %}
        (hour_start, {{ q('s_' ~ si) }}, {{ q('b_' ~ loop.index) }}){{ "," if not (outer_last and loop.last) }}
        {%- endfor %}
        {%- endfor %}
    )
),

final as (
    {%- for s in segment_columns %}
    {%- set si = loop.index %}
    {%- set outer_last = loop.last %}
    {%- for c in columns %}
    select
        cast(:model_name as varchar) as model_name,
        hour_start,
        cast({{ baseline_id() }} as varchar) as baseline_id,
        cast({{ lit(s.name) }} as varchar) as segment_column,
        cast({{ q('s_' ~ si) }} as varchar) as segment_value,
        cast({{ lit(c.name) }} as varchar) as column_name,
        cast({{ lit(c.role) }} as varchar) as column_role,
        {{ q('b_' ~ loop.index) }} as bin_index,
        n
    from grouped
    where {{ q('g_' ~ si ~ '_' ~ loop.index) }} = 0
        and {{ q('s_' ~ si) }} is not null and {{ q('b_' ~ loop.index) }} is not null
    {%- if not (outer_last and loop.last) %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- endfor %}
)
{%- else %}

final as (
    select
        cast(:model_name as varchar) as model_name,
        partition_hour as hour_start,
        cast(null as varchar) as baseline_id,
        cast(null as varchar) as segment_column,
        cast(null as varchar) as segment_value,
        cast(null as varchar) as column_name,
        cast(null as varchar) as column_role,
        cast(null as integer) as bin_index,
        cast(null as bigint) as n
    from predictions
    where false
)
{%- endif %}

select * from final
