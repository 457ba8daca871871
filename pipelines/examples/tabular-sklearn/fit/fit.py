"""Fit: a standardised logistic regression with inverse regularisation C, on the prepared train
split. Writes predictions for the test and validation splits (for `evaluate`), the model as JSON,
and the validation AUC the sweep selects on.

Inputs:  $MLP_INPUTS/data/{train,val,test}.csv   (prepare.py's output)
Outputs: $MLP_OUTPUTS/predictions      CSV id,label,score on test (score = P(malignant))
         $MLP_OUTPUTS/valPredictions   the same on validation
         $MLP_OUTPUTS/model/model.json scaler and coefficients: the model, without pickle
Metrics: valAuc, trainAuc, iterations
"""

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

POSITIVE = "malignant"


def read_split(path: Path):
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    ids = [row[0] for row in rows]
    labels = [row[1] for row in rows]
    features = np.array([[float(value) for value in row[2:]] for row in rows])
    return header[2:], ids, labels, features


def write_predictions(path: Path, ids, labels, scores) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "label", "score"])
        for row_id, label, score in zip(ids, labels, scores):
            writer.writerow([row_id, label, f"{score:.10f}"])


def progress(done: int, total: int, message: str) -> None:
    # Shown by `mlp watch` as this step's bar; not part of the log.
    print("::mlp progress " + json.dumps({"done": done, "total": total, "message": message}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--C", type=float, required=True, help="inverse regularisation strength")
    args = parser.parse_args()

    data = Path(os.environ["MLP_INPUTS"]) / "data"
    out = Path(os.environ["MLP_OUTPUTS"])
    progress(0, 3, "reading data")
    names, _, train_labels, train_x = read_split(data / "train.csv")
    _, val_ids, val_labels, val_x = read_split(data / "val.csv")
    _, test_ids, test_labels, test_x = read_split(data / "test.csv")
    train_y = np.array([label == POSITIVE for label in train_labels], dtype=int)
    val_y = np.array([label == POSITIVE for label in val_labels], dtype=int)

    progress(1, 3, f"fitting C={args.C}")
    # lbfgs on a fixed problem is deterministic: the same data and C give the same coefficients.
    model = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=5000))
    model.fit(train_x, train_y)
    regression = model[-1]
    print(f"C={args.C}: converged in {int(regression.n_iter_[0])} iterations")

    progress(2, 3, "writing predictions")
    val_scores = model.predict_proba(val_x)[:, 1]
    test_scores = model.predict_proba(test_x)[:, 1]
    write_predictions(out / "predictions", test_ids, test_labels, test_scores)
    write_predictions(out / "valPredictions", val_ids, val_labels, val_scores)

    scaler = model[0]
    (out / "model").mkdir()
    with (out / "model" / "model.json").open("w") as handle:
        json.dump(
            {
                "kind": "standardised logistic regression",
                "positiveClass": POSITIVE,
                "features": names,
                "mean": scaler.mean_.tolist(),
                "scale": scaler.scale_.tolist(),
                "coefficients": regression.coef_[0].tolist(),
                "intercept": float(regression.intercept_[0]),
                "C": args.C,
            },
            handle,
            indent=1,
        )
        handle.write("\n")

    metrics = {
        "valAuc": float(roc_auc_score(val_y, val_scores)),
        "trainAuc": float(roc_auc_score(train_y, model.predict_proba(train_x)[:, 1])),
        "iterations": int(regression.n_iter_[0]),
    }
    with open(os.environ["MLP_METRICS"], "w") as handle:
        json.dump(metrics, handle)
    print(f"C={args.C}: validation AUC {metrics['valAuc']:.4f}")
    progress(3, 3, "done")


if __name__ == "__main__":
    main()
