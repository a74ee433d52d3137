"""The code MLflow runs to load a logged network ("models from code": no pickle in the model).

Run by ``mlflow.pyfunc.load_model`` with the model's copy of the package first on ``sys.path``;
:func:`gdbasins.model.log_best` names this file as the model.
"""

from mlflow.models import set_model

from gdbasins.model import NetworkModel

set_model(NetworkModel())
