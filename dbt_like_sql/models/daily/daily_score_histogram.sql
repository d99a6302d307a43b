-- Scores of the day's ok predictions on 100 equal-width bins of [0, 1], split by the label
-- state so far (positive / negative / unlabelled): ROC AUC, calibration (reliability table,
-- ECE) and the confidence-based estimate of performance before labels come from here.
with

predictions as (
    select * from {{ source('logs', 'raw_predictions') }}
    where partition_hour >= :window_start and partition_hour < :window_end
        and status = 'ok' and score is not null
),

labels_ranked as (
    select
        prediction_id,
        label_text,
        row_number() over (
            partition by prediction_id
            order by label_ts desc, partition_hour desc, arrival_seq desc nulls last
        ) as label_rank
    from {{ source('logs', 'raw_labels') }}
    where prediction_id in (select prediction_id from predictions)
),

final as (
    select
        cast(:model_name as varchar) as model_name,
        cast(date_trunc('day', p.partition_hour) as timestamp) as day_start,
        {%- if model.task.value == 'binary_classification' %}
        case
            when l.prediction_id is null then 'unlabelled'
            when l.label_text = {{ lit(model.positive_class) }} then 'positive'
            else 'negative'
        end as label_state,
        {%- else %}
        case when l.prediction_id is null then 'unlabelled' else 'labelled' end as label_state,
        {%- endif %}
        cast(least(floor(p.score * 100), 99) as integer) as score_bin,
        count(*) as n,
        sum(p.score) as sum_score
    from predictions as p
    left join labels_ranked as l
        on l.prediction_id = p.prediction_id and l.label_rank = 1
    group by 1, 2, 3, 4
)

select * from final
