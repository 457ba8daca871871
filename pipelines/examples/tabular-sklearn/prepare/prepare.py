"""Prepare: scikit-learn's bundled breast cancer data (569 tumours, 30 features), split into
train, validation and test CSVs. No download: the data ships inside scikit-learn.

Writes $MLP_OUTPUTS/data/{train,val,test}.csv with columns id,label,<30 features>, where label is
the class name (malignant or benign). The split is stratified and seeded, so the same seed gives
the same files, byte for byte.
"""

import argparse
import csv
import json
import os
from pathlib import Path

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split


def write_split(path: Path, ids, labels, rows, feature_names) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "label", *feature_names])
        for row_id, label, row in zip(ids, labels, rows):
            writer.writerow([row_id, label, *(repr(float(value)) for value in row)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--test", type=float, default=0.2, help="fraction of all rows held out for test")
    parser.add_argument("--val", type=float, default=0.2, help="fraction of the rest held out for validation")
    args = parser.parse_args()

    data = load_breast_cancer()
    ids = [f"bc-{index:04d}" for index in range(len(data.target))]
    labels = [str(data.target_names[target]) for target in data.target]
    features = [name.replace(" ", "_") for name in data.feature_names]

    rest, test = train_test_split(range(len(ids)), test_size=args.test, random_state=args.seed, stratify=labels)
    train, val = train_test_split(rest, test_size=args.val, random_state=args.seed, stratify=[labels[i] for i in rest])

    out = Path(os.environ["MLP_OUTPUTS"]) / "data"
    out.mkdir()
    counts = {}
    for name, rows in (("train", sorted(train)), ("val", sorted(val)), ("test", sorted(test))):
        write_split(out / f"{name}.csv", [ids[i] for i in rows], [labels[i] for i in rows], data.data[rows], features)
        counts[name] = len(rows)
        print(f"{name}: {len(rows)} rows, {sum(labels[i] == 'malignant' for i in rows)} malignant")

    with open(os.environ["MLP_METRICS"], "w") as handle:
        json.dump({f"{name}Rows": count for name, count in counts.items()}, handle)


if __name__ == "__main__":
    main()
