"""Training and loading of model versions: labelled windows from the warehouse, trainers, artifacts.

No Dagster here. scikit-learn is imported by the modules that need it, not by this package.
"""
