"""modeler: experiment tracking for classifiers on imbalanced data, on MLflow.

>>> from modeler import accu
>>> accu.autolog()            # doctest: +SKIP  (every later Keras / scikit-learn fit is a run)

Importing this package loads no TensorFlow, Keras or MLflow; they are imported when used.
"""

from modeler.accu import accu
from modeler.errors import ModelerError

__version__ = "0.1.0"
__all__ = ["ModelerError", "__version__", "accu"]
