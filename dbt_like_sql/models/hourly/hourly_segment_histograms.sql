-- Histogram of every monitored column within each value of each segment column (config
-- `segments`), on the baseline's bins, with per-bin sums of numeric columns as in
-- hourly_feature_histograms (bins computed once, one GROUP BY per segment and column). Drift
-- inside a segment is judged against the segment's own reference. A model without segments
-- writes no rows.
with

predictions as (
    select * from {{ source('logs', 'raw_predictions') }}
    where partition_hour >= :window_start and partition_hour < :window_end
),

{%- if segment_columns %}

binned as materialized (
    select
        partition_hour as hour_start
        {%- for s in segment_columns %}
        , {{ q(s.sql_column) }} as {{ q('s_' ~ loop.index) }}
        {%- endfor %}
        {%- for c in columns %}
        , {{ bin_index(c) }} as {{ q('b_' ~ loop.index) }}
        {%- if c.is_numeric %}
        , {{ q(c.sql_column) }} - cast({{ center(c) }} as double precision) as {{ q('x_' ~ loop.index) }}
        {%- endif %}
        {%- endfor %}
    from predictions
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
        count(*) as n,
        {%- if c.is_numeric %}
        sum({{ q('x_' ~ loop.index) }}) as sum_shifted
        {%- else %}
        cast(null as double precision) as sum_shifted
        {%- endif %}
    from binned
    where {{ q('s_' ~ si) }} is not null and {{ q('b_' ~ loop.index) }} is not null
    group by hour_start, {{ q('s_' ~ si) }}, {{ q('b_' ~ loop.index) }}
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
        cast(null as bigint) as n,
        cast(null as double precision) as sum_shifted
    from predictions
    where false
)
{%- endif %}

select * from final
