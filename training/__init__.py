"""Fine-tuning and evaluation of the embedding model as ZenML pipelines.

Importing this package imports neither zenml nor torch. The modules that do
(``steps``, ``pipelines``, ``materializers``) must be imported after
``training.zenml_env.configure_zenml(settings)``; ``training.runner`` handles that.
"""
