-- Mergeable moments of every monitored column (features, prediction, score) per hour, in one
-- scan. Sums are of (x - baseline mean), so variance stays precise for large-valued features.
-- n_ok / n_null_ok count the ok predictions and the column's nulls among them: the null rate
-- compared with the reference's (which holds ok predictions only; an error carries no
-- prediction, so counting errors would make the error rate look like missing predictions).
with

predictions as (
    select * from {{ source('logs', 'raw_predictions') }}
    where partition_hour >= :window_start and partition_hour < :window_end
),

per_hour as (
    select
        partition_hour as hour_start,
        count(*) as n_rows,
        count(*) filter (where status = 'ok') as n_ok
        {%- for c in columns %}
        {%- set col = q(c.sql_column) %}
        , count({{ col }}) as {{ q('n_' ~ loop.index) }}
        , count(*) filter (where status = 'ok' and {{ col }} is null) as {{ q('nok_' ~ loop.index) }}
        {%- if c.is_numeric %}
        {%- set shifted = '(' ~ col ~ ' - cast(' ~ center(c) ~ ' as double precision))' %}
        , sum({{ shifted }}) as {{ q('s_' ~ loop.index) }}
        , sum({{ shifted }} * {{ shifted }}) as {{ q('ss_' ~ loop.index) }}
        , min({{ col }}) as {{ q('min_' ~ loop.index) }}
        , max({{ col }}) as {{ q('max_' ~ loop.index) }}
        {%- endif %}
        {%- endfor %}
    from predictions
    group by partition_hour
),

final as (
    {%- for c in columns %}
    select
        cast(:model_name as varchar) as model_name,
        hour_start,
        cast({{ baseline_id() }} as varchar) as baseline_id,
        cast({{ lit(c.name) }} as varchar) as column_name,
        cast({{ lit(c.role) }} as varchar) as column_role,
        {{ q('n_' ~ loop.index) }} as n,
        n_rows - {{ q('n_' ~ loop.index) }} as n_null,
        n_ok,
        {{ q('nok_' ~ loop.index) }} as n_null_ok,
        {%- if c.is_numeric %}
        cast({{ center(c) }} as double precision) as shift,
        {{ q('s_' ~ loop.index) }} as sum_shifted,
        {{ q('ss_' ~ loop.index) }} as sumsq_shifted,
        cast({{ q('min_' ~ loop.index) }} as double precision) as min_value,
        cast({{ q('max_' ~ loop.index) }} as double precision) as max_value
        {%- else %}
        cast(null as double precision) as shift,
        cast(null as double precision) as sum_shifted,
        cast(null as double precision) as sumsq_shifted,
        cast(null as double precision) as min_value,
        cast(null as double precision) as max_value
        {%- endif %}
    from per_hour
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select * from final
