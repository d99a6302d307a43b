"""A small multiclass model of the tests' own (a batch-scored ticket router), as a config entry."""

CLASSES = ["billing", "tech", "sales"]
TICKET_ROUTER = {
    "name": "ticket_router",
    "task": "multiclass_classification",
    "classes": CLASSES,
    "features": [{"name": "msg_length", "type": "numeric"}],
    "label_delay": {"expected_hours": 48, "max_hours": 96},
    "baseline": {
        "model_version": "r1",
        "reference_predictions": "reference/ticket_router/predictions.jsonl",
        "reference_labels": "reference/ticket_router/labels.jsonl",
    },
}
