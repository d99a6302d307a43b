-- Labels that arrived during the day, on the baseline's label bins (with bin sums for a numeric
-- label, as in hourly_feature_histograms): the outcome prior that label (prior) drift
-- compares with the reference labels. Labels are counted by arrival day,
-- so a day's row describes the ground truth that became known that day. Without reference
-- labels in the baseline, the model writes no rows.
with

labels as (
    select * from {{ source('logs', 'raw_labels') }}
    where partition_hour >= :window_start and partition_hour < :window_end
),

{%- if label_column is not none %}

binned as (
    select
        cast(date_trunc('day', partition_hour) as timestamp) as day_start,
        {{ bin_index(label_column) }} as bin_index
        {%- if label_column.is_numeric %},
        {{ q(label_column.sql_column) }} - cast({{ center(label_column) }} as double precision) as x
        {%- endif %}
    from labels
),

final as (
    select
        cast(:model_name as varchar) as model_name,
        day_start,
        cast({{ baseline_id() }} as varchar) as baseline_id,
        cast('label' as varchar) as column_name,
        cast('label' as varchar) as column_role,
        bin_index,
        count(*) as n,
        {%- if label_column.is_numeric %}
        sum(x) as sum_shifted
        {%- else %}
        cast(null as double precision) as sum_shifted
        {%- endif %}
    from binned
    where bin_index is not null
    group by day_start, bin_index
)
{%- else %}

final as (
    select
        cast(:model_name as varchar) as model_name,
        cast(null as timestamp) as day_start,
        cast(null as varchar) as baseline_id,
        cast(null as varchar) as column_name,
        cast(null as varchar) as column_role,
        cast(null as integer) as bin_index,
        cast(null as bigint) as n,
        cast(null as double precision) as sum_shifted
    from labels
    where false
)
{%- endif %}

select * from final
