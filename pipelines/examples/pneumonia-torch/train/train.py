"""The seed notebook's pneumonia classifier as a user would write it in PyTorch: torchvision's
VGG19 with ImageNet weights, frozen, under the notebook's dense head, trained on the `subset`
step's splits, with checkpoints so a retried attempt resumes where the last one stopped.

Inputs (each a split manifest of `subset`, staged as a folder numpy reads; docs/run-steps.md):
  $MLP_INPUTS/{train,val,test}/images.npy   uint8 (n, height, width), gray
  $MLP_INPUTS/{train,val,test}/labels.npy   uint8 (n,), index into classes.txt
  $MLP_INPUTS/{train,val,test}/classes.txt  one class name per line
  $MLP_INPUTS/{train,val,test}/images.csv   index,label,class,sha256,path (path: the image's id)
Outputs:
  $MLP_OUTPUTS/model/          model.pt (state dict), classes.txt, model.json (how to rebuild it)
  $MLP_OUTPUTS/predictions     CSV id,label,score on test, score = P(PNEUMONIA)
  $MLP_OUTPUTS/valPredictions  the same on validation
Metrics: valAuc, valAccuracy, valLoss, epochs
"""

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import models
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def progress(done, total, message):
    """A progress line: `mlp watch` draws it as this step's bar (it is not written to the log)."""
    print("::mlp progress " + json.dumps({"done": done, "total": total, "message": message}), flush=True)


class Split(Dataset):
    """One staged split: gray uint8 images repeated to RGB, resized, normalised, optionally augmented."""

    def __init__(self, folder: Path, size: int, augment: bool):
        self.images = np.load(folder / "images.npy", mmap_mode="r")
        self.labels = np.load(folder / "labels.npy")
        self.classes = (folder / "classes.txt").read_text().splitlines()
        with (folder / "images.csv").open(newline="") as handle:
            self.ids = [row["path"] for row in csv.DictReader(handle)]
        steps = [v2.Resize((size, size), antialias=True)]
        if augment:
            # The notebook's ImageDataGenerator: rotation 40, shifts 0.2, shear 0.2, zoom 0.2, flips.
            steps += [
                v2.RandomAffine(degrees=40, translate=(0.2, 0.2), shear=0.2 * 180 / np.pi, scale=(0.8, 1.2)),
                v2.RandomHorizontalFlip(),
            ]
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
        self.transform = v2.Compose(steps)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        gray = torch.from_numpy(np.array(self.images[index])).unsqueeze(0)
        return self.transform(gray.expand(3, -1, -1)), int(self.labels[index])


def build_model(size: int, classes: int) -> nn.Module:
    """VGG19's convolutional part (ImageNet weights, frozen) and the notebook's dense head."""
    vgg = models.vgg19(weights=models.VGG19_Weights.IMAGENET1K_V1)
    for parameter in vgg.features.parameters():
        parameter.requires_grad = False
    side = size // 32
    head = nn.Sequential(
        nn.Flatten(),
        nn.Linear(512 * side * side, 64), nn.ReLU(),
        nn.Linear(64, 128), nn.ReLU(),
        nn.Linear(128, 256), nn.ReLU(),
        nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, classes),
    )
    return nn.Sequential(vgg.features, head)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by ranks (ties averaged): the probability a positive scores above a negative."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    positives = labels.sum()
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


@torch.no_grad()
def predict(model, loader, device):
    model.eval()
    probabilities, labels, losses = [], [], []
    for images, targets in loader:
        logits = model(images.to(device))
        losses.append(nn.functional.cross_entropy(logits, targets.to(device), reduction="sum").item())
        probabilities.append(torch.softmax(logits, dim=1).cpu().numpy())
        labels.append(targets.numpy())
    return np.concatenate(probabilities), np.concatenate(labels), sum(losses) / len(loader.dataset)


def write_predictions(path: Path, split: Split, probabilities: np.ndarray, positive: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "label", "score"])
        for row_id, label, probability in zip(split.ids, split.labels, probabilities[:, positive]):
            writer.writerow([row_id, split.classes[label], f"{probability:.10f}"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--positive-class", default="PNEUMONIA")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.backends.cudnn.benchmark = False
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"torch {torch.__version__} on {device}", flush=True)

    inputs = Path(os.environ["MLP_INPUTS"])
    train = Split(inputs / "train", args.image_size, augment=True)
    val = Split(inputs / "val", args.image_size, augment=False)
    test = Split(inputs / "test", args.image_size, augment=False)
    positive = train.classes.index(args.positive_class)
    generator = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, generator=generator, num_workers=4)
    val_loader = DataLoader(val, batch_size=args.batch_size, num_workers=4)
    test_loader = DataLoader(test, batch_size=args.batch_size, num_workers=4)

    model = build_model(args.image_size, len(train.classes)).to(device)
    head = model[1]
    optimizer = torch.optim.RMSprop(head.parameters(), lr=args.learning_rate)

    # $MLP_CHECKPOINTS survives attempts: after a worker crash the retry continues from the last epoch.
    checkpoint = Path(os.environ["MLP_CHECKPOINTS"]) / "last.pt"
    start_epoch, history = 0, []
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location=device)
        head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        start_epoch, history = state["epoch"], state["history"]
        print(f"resuming after epoch {start_epoch} (attempt {os.environ.get('MLP_ATTEMPT')})", flush=True)

    for epoch in range(start_epoch, args.epochs):
        started = time.monotonic()
        model.train()
        model[0].eval()  # the frozen backbone has no dropout or batch norm, but keep it in inference mode
        total_loss = 0.0
        for batch, (images, targets) in enumerate(train_loader, start=1):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(images.to(device)), targets.to(device))
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(targets)
            if batch % 20 == 0:
                progress(epoch + batch / len(train_loader), args.epochs, f"epoch {epoch + 1} batch {batch}/{len(train_loader)}")
        probabilities, labels, val_loss = predict(model, val_loader, device)
        record = {
            "epoch": epoch + 1,
            "loss": total_loss / len(train),
            "valLoss": val_loss,
            "valAuc": auc((labels == positive).astype(int), probabilities[:, positive]),
            "valAccuracy": float((probabilities.argmax(axis=1) == labels).mean()),
        }
        history.append(record)
        print(json.dumps(record) + f"  ({time.monotonic() - started:.0f} s)", flush=True)
        progress(epoch + 1, args.epochs, f"epoch {epoch + 1} val AUC {record['valAuc']:.4f}")
        # Written whole, then renamed: a crash mid-write never leaves a broken checkpoint.
        partial = checkpoint.with_suffix(".partial")
        torch.save({"head": head.state_dict(), "optimizer": optimizer.state_dict(), "generator": generator.get_state(), "epoch": epoch + 1, "history": history}, partial)
        partial.replace(checkpoint)

    outputs = Path(os.environ["MLP_OUTPUTS"])
    val_probabilities, _, _ = predict(model, val_loader, device)
    test_probabilities, _, _ = predict(model, test_loader, device)
    write_predictions(outputs / "valPredictions", val, val_probabilities, positive)
    write_predictions(outputs / "predictions", test, test_probabilities, positive)

    model_dir = outputs / "model"
    model_dir.mkdir()
    torch.save(model.state_dict(), model_dir / "model.pt")
    (model_dir / "classes.txt").write_text("".join(f"{name}\n" for name in train.classes))
    (model_dir / "model.json").write_text(json.dumps({
        "framework": f"torch {torch.__version__}",
        "architecture": "torchvision vgg19 features (frozen) + dense head 64-128-256-128-classes, as build_model in train.py",
        "imageSize": args.image_size,
        "input": "gray uint8 repeated to RGB, resized, scaled to [0, 1], ImageNet mean/std",
        "classes": train.classes,
        "history": history,
    }, indent=1) + "\n")

    last = history[-1]
    with open(os.environ["MLP_METRICS"], "w") as handle:
        json.dump({"valAuc": last["valAuc"], "valAccuracy": last["valAccuracy"], "valLoss": last["valLoss"], "epochs": len(history)}, handle)


if __name__ == "__main__":
    main()
