"""The vb-plugins FiftyOne plugin: thin operators over the core (``vb_plugins``).

Install it with ``vb fiftyone install`` (links this folder into FiftyOne's plugins directory) or point
``FIFTYONE_PLUGINS_DIR`` at a folder that contains it. Operators:

- ``@vb-plugins/fiftyone/predict``: run a task on a dataset, the current view or the selected samples;
- ``@vb-plugins/fiftyone/evaluate``: score a prediction field against a ground-truth field;
- ``@vb-plugins/fiftyone/depth_to_3d``: point clouds (FiftyOne 3D scenes in a grouped dataset);
- ``@vb-plugins/fiftyone/review_queue``: tag and open the samples a prediction is least sure of;
- ``@vb-plugins/fiftyone/backfill_scores``: per-sample scores of an existing run, from its files;
- ``@vb-plugins/fiftyone/train``: a `vb train` run (VBNet or LoRA) on reviewed samples.
"""

from .evaluate_operator import Evaluate
from .pointcloud_operator import DepthTo3D
from .predict_operator import Predict
from .review_operators import BackfillScores, ReviewQueue
from .train_operator import Train


def register(p):
    p.register(Predict)
    p.register(Evaluate)
    p.register(DepthTo3D)
    p.register(ReviewQueue)
    p.register(BackfillScores)
    p.register(Train)
