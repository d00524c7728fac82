"""Where users train: thin adapters over :func:`frugalml.track`.

Each adapter is its own module, imported only when you import it (its framework is an
optional extra; ``import frugalml`` imports none of them):

- :mod:`frugalml.integrations.lightning` — ``EnergyCallback`` for PyTorch Lightning
  (``pip install 'frugalml[lightning]'``);
- :mod:`frugalml.integrations.transformers` — ``EnergyCallback`` for the Hugging Face
  ``Trainer``, with the model card's ``co2_eq_emissions`` (``'frugalml[transformers]'``);
- :mod:`frugalml.integrations.sklearn` — ``EnergyTracked(estimator)``, a meta-estimator
  (``'frugalml[sklearn]'``);
- :mod:`frugalml.integrations.mlflow` — ``log_run(run)``: a run's figures, report and
  ``run.json`` into an MLflow run (``'frugalml[mlflow]'``).

See docs/integrations.md.
"""
