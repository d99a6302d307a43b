-- The day's ok predictions joined with the labels that have arrived so far (latest label per
-- prediction id wins), reduced to mergeable counts and sums: overall (segment '__all__') and
-- per value of each segment column. Re-materialising a day as labels arrive updates coverage.
with

predictions as (
    select * from {{ source('logs', 'raw_predictions') }}
    where partition_hour >= :window_start and partition_hour < :window_end
        and status = 'ok'
),

labels_ranked as (
    select
        prediction_id,
        label_text,
        label_value,
        label_ts,
        row_number() over (
            partition by prediction_id
            order by label_ts desc, partition_hour desc, arrival_seq desc nulls last
        ) as label_rank
    from {{ source('logs', 'raw_labels') }}
    where prediction_id in (select prediction_id from predictions)
),

joined as (
    select
        p.*,
        l.label_text,
        l.label_value,
        l.label_ts,
        l.prediction_id is not null as labelled
    from predictions as p
    left join labels_ranked as l
        on l.prediction_id = p.prediction_id and l.label_rank = 1
),

scoped as (
    select '__all__' as segment_column, '__all__' as segment_value, joined.* from joined
    {%- for s in segment_columns %}
    union all
    select
        cast({{ lit(s.name) }} as varchar) as segment_column,
        cast({{ q(s.sql_column) }} as varchar) as segment_value,
        joined.*
    from joined
    where {{ q(s.sql_column) }} is not null
    {%- endfor %}
),

final as (
    select
        cast(:model_name as varchar) as model_name,
        cast(date_trunc('day', partition_hour) as timestamp) as day_start,
        segment_column,
        segment_value,
        count(*) as n_predictions,
        sum(case when labelled then 1 else 0 end) as n_labelled,
        percentile_cont(0.5) within group (
            order by extract(epoch from (label_ts - ts)) / 3600.0
        ) as label_lag_p50_hours,
        {%- if model.task.is_classification %}
        sum(case when labelled and label_text = prediction_label then 1 else 0 end) as n_correct,
        {%- else %}
        cast(null as bigint) as n_correct,
        {%- endif %}
        {%- if model.task.value == 'binary_classification' %}
        {%- set pos = lit(model.positive_class) %}
        sum(case when labelled and prediction_label = {{ pos }} and label_text = {{ pos }} then 1 else 0 end) as tp,
        sum(case when labelled and prediction_label = {{ pos }} and label_text <> {{ pos }} then 1 else 0 end) as fp,
        sum(case when labelled and prediction_label <> {{ pos }} and label_text <> {{ pos }} then 1 else 0 end) as tn,
        sum(case when labelled and prediction_label <> {{ pos }} and label_text = {{ pos }} then 1 else 0 end) as fn,
        sum(case when labelled then power(score - case when label_text = {{ pos }} then 1.0 else 0.0 end, 2) end) as sum_brier,
        sum(case when labelled then -ln(case when label_text = {{ pos }}
            then greatest(score, 1e-15) else greatest(1.0 - score, 1e-15) end) end) as sum_log_loss,
        {%- else %}
        cast(null as bigint) as tp, cast(null as bigint) as fp,
        cast(null as bigint) as tn, cast(null as bigint) as fn,
        cast(null as double precision) as sum_brier, cast(null as double precision) as sum_log_loss,
        {%- endif %}
        {%- if model.task.value == 'regression' %}
        sum(case when labelled then prediction_value - label_value end) as sum_error,
        sum(case when labelled then abs(prediction_value - label_value) end) as sum_abs_error,
        sum(case when labelled then power(prediction_value - label_value, 2) end) as sum_sq_error,
        sum(case when labelled and label_value <> 0
            then abs(prediction_value - label_value) / abs(label_value) end) as sum_abs_pct_error,
        sum(case when labelled and label_value <> 0 then 1 else 0 end) as n_pct,
        sum(case when labelled then label_value end) as sum_label,
        sum(case when labelled then power(label_value, 2) end) as sum_sq_label
        {%- else %}
        cast(null as double precision) as sum_error, cast(null as double precision) as sum_abs_error,
        cast(null as double precision) as sum_sq_error,
        cast(null as double precision) as sum_abs_pct_error, cast(null as bigint) as n_pct,
        cast(null as double precision) as sum_label, cast(null as double precision) as sum_sq_label
        {%- endif %}
    from scoped
    group by cast(date_trunc('day', partition_hour) as timestamp), segment_column, segment_value
)

select * from final
