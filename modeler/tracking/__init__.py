"""The only package that talks to MLflow: the run writer and the Keras / scikit-learn hooks."""
