-- Confusion counts (label x prediction) of the day's labelled predictions, for classifiers:
-- per-class recall and macro / weighted F1 come from here. Regression models write no rows.
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
        l.label_text as label,
        p.prediction_label as prediction,
        count(*) as n
    from predictions as p
    inner join labels_ranked as l
        on l.prediction_id = p.prediction_id and l.label_rank = 1
    where p.prediction_label is not null
    group by 1, 2, 3, 4
)

select * from final
