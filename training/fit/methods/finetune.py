"""Fine-tune the backbone's last stages with augmentation (the study's best rung).

Shape after torchvision's reference trainer: ``load_data`` -> ``train_one_epoch`` ->
``evaluate`` -> ``run_finetune``. AdamW with linear warm-up then cosine decay, class-weighted
loss from the card, early stopping on val weighted F1, mixed precision on CUDA only, and a
checkpoint after every epoch (model, optimizer, scheduler, epoch, config) to resume from.

On CPU only the last ``train_stages`` stages train (default 3 of Lite0's 9: blocks 5-6 and
the 1x1 head conv) at 192 px: frozen stages run without autograd and their BatchNorm
statistics stay fixed, which makes an epoch several times cheaper than full fine-tuning.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LRScheduler
from torch.utils.data import DataLoader, DistributedSampler

from sleeve.core import csvfile
from sleeve.core.errors import DataError
from sleeve.core.fsutil import atomic_path
from sleeve.core.progress import Progress
from sleeve.core.progress import bar as progress_bar
from sleeve.core.vision.backbones import STACK_SEP, Backbone, load_backbone
from sleeve.core.vision.embeddings import FeatureRecipe, encode
from sleeve.core.vision.samples import CoverDataset, Sample, default_workers, make_loader
from sleeve.inference.classifier import package
from sleeve.inference.heads_runtime import head_probabilities
from sleeve.training.data import Export
from sleeve.training.distributed import world
from sleeve.training.evaluation.metrics import classification_metrics
from sleeve.training.fit.finetune_side import AttributeCoverDataset, NetAttributes, net_attributes
from sleeve.training.fit.methods import FittedHead, MethodOutcome, RungContext
from sleeve.training.fit.methods.hybrid import run_hybrid

if TYPE_CHECKING:
    from sleeve.training.config import TrainConfig

PATIENCE = 2  # epochs without a better val weighted F1 before stopping


class FineTuneNet(nn.Module):
    """Backbone -> dropout -> linear; ``side_dim`` extra inputs (the cover's scaled attributes,
    training/fit/finetune_side.py) join the pooled features before the linear layer."""

    def __init__(
        self, backbone: Backbone, n_classes: int, dropout: float = 0.2, side_dim: int = 0
    ) -> None:
        super().__init__()
        self.body = backbone.model
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(backbone.feature_dim + side_dim, n_classes)
        self.frozen: list[nn.Module] = []

    def forward(self, x: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
        feats = self.dropout(self.body(x))
        if side is not None:
            feats = torch.cat([feats, side.to(feats.dtype)], dim=1)
        return self.fc(feats)

    def train(self, mode: bool = True) -> FineTuneNet:
        super().train(mode)
        for module in self.frozen:  # frozen stages keep their ImageNet BatchNorm statistics
            module.eval()
        return self


def freeze_all_but(net: FineTuneNet, backbone: Backbone, train_stages: int) -> int:
    """Leave the last ``train_stages`` stages (and the classifier) trainable; returns the
    number of trainable parameters."""
    stages = backbone.stages
    if train_stages >= len(stages) or not stages:
        return sum(p.numel() for p in net.parameters())
    for p in net.body.parameters():
        p.requires_grad_(False)
    for stage in stages[len(stages) - train_stages :]:
        for p in stage.parameters():
            p.requires_grad_(True)
    net.frozen = list(stages[: len(stages) - train_stages])
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def load_data(
    export: Export,
    backbone: Backbone,
    config: TrainConfig,
    size: int,
    device: torch.device,
    attrs: NetAttributes | None = None,
) -> DataLoader:
    train = export.split("train")
    images = CoverDataset(train, backbone.train_transform(config.augment, size), min_size=size)
    dataset = images if attrs is None else AttributeCoverDataset(images, attrs)
    rank = world()
    if rank.size == 1:
        return make_loader(
            dataset,
            config.batch_size,
            shuffle=True,
            workers=default_workers(device),
            seed=config.seed,
        )
    # torchrun: each rank trains on its shard; the global batch stays config.batch_size, so
    # the schedule and the learning rates mean what they mean in one process
    sampler: DistributedSampler[object] = DistributedSampler(
        dataset, rank.size, rank.rank, shuffle=True, seed=config.seed
    )
    per_rank = max(1, config.batch_size // rank.size)
    return make_loader(dataset, per_rank, sampler=sampler, workers=default_workers(device))


def train_one_epoch(
    net: FineTuneNet | DistributedDataParallel,
    loader: DataLoader,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: LRScheduler,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    epoch: int,
    progress: Progress,
) -> float:
    net.train()
    total, seen = 0.0, 0
    with progress_bar(
        len(loader), f"fine-tune epoch {epoch + 1}", "batch", progress=progress, leave=False
    ) as bar:
        for batch in loader:
            x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
            side = batch[2].to(device) if len(batch) > 2 else None  # the cover's attributes
            if device.type == "cpu":
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", enabled=device.type == "cuda"):
                loss = criterion(net(x, side), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            total += float(loss.detach()) * len(y)
            seen += len(y)
            bar.set_postfix(loss=f"{total / seen:.3f}")
            bar.update()
    return total / max(1, seen)


def linear_head(net: FineTuneNet) -> dict:
    return {
        "type": "linear",
        "weight": net.fc.weight.detach().cpu().double().clone(),
        "bias": net.fc.bias.detach().cpu().double().clone(),
    }


def evaluate(
    net: FineTuneNet,
    backbone: Backbone,
    samples: Sequence[Sample],
    recipe: FeatureRecipe,
    device: torch.device,
    config: TrainConfig,
    attrs: NetAttributes | None = None,
) -> tuple[np.ndarray, float]:
    """Probabilities through the same path model.pt uses (features [+ attributes] -> linear
    head)."""
    net.eval()
    start = time.perf_counter()
    # eager: the weights change every epoch, so an exported graph would serve one call only
    feats = encode(
        samples,
        backbone,
        recipe,
        device,
        batch_size=config.batch_size,
        progress=False,
        engine="torch",
    )
    if attrs is not None:
        feats = np.hstack([np.asarray(feats, dtype=np.float64), attrs.rows(samples)])
    probs = head_probabilities(linear_head(net), feats)
    return probs, len(samples) / max(1e-9, time.perf_counter() - start)


def run_finetune(
    export: Export, config: TrainConfig, device: torch.device, ckpt_dir: Path
) -> MethodOutcome:
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    # a stack's first member is the one fine-tuned (one network trains; the rest stay frozen
    # features for the embedding methods and the hybrid)
    backbone = load_backbone(config.backbone.split(STACK_SEP)[0], config.weights, device)
    size = config.finetune_size or (224 if device.type == "cuda" else 192)
    stages = config.train_stages or (len(backbone.stages) if device.type == "cuda" else 3)
    attrs = None
    if config.finetune_attributes:
        attrs = net_attributes(export)
    net = FineTuneNet(backbone, len(export.genres), side_dim=attrs.dims if attrs else 0)
    net = net.to(device)
    freeze_all_but(net, backbone, stages)
    rank = world()
    # DDP averages the gradients of the ranks' shards; evaluation and the head use ``net``
    trained = net if rank.size == 1 else DistributedDataParallel(net)
    recipe = FeatureRecipe(size)
    loader = load_data(export, backbone, config, size, device, attrs)
    weights = torch.tensor(export.class_weights(), dtype=torch.float32, device=device)
    criterion = nn.CrossEntropyLoss(weight=weights, label_smoothing=0.1)
    head_params = list(net.fc.parameters())
    body_params = [p for p in net.body.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": body_params, "lr": 3e-4}, {"params": head_params, "lr": 1e-3}],
        weight_decay=0.02,
    )
    steps = config.epochs * len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(steps, max(1, len(loader) // 2))
    )
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    y_val = np.array([s.label for s in export.split("val")])
    state: dict[str, Any] = {
        "epoch": 0,
        "best_f1": -1.0,
        "best_epoch": -1,
        "best_state": None,
        "history": [],
    }
    if rank.main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
    last = ckpt_dir / "last.pt"
    if config.resume and last.is_file():
        state = _resume(last, net, optimizer, scheduler, config)
    for epoch in range(state["epoch"], config.epochs):
        t0 = time.perf_counter()
        # per-epoch seeds: an epoch's order and augmentations are the same resumed or not
        torch.manual_seed(config.seed + epoch)
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(epoch)
        else:
            loader.generator.manual_seed(config.seed + epoch)
        progress = config.progress and rank.main
        loss = train_one_epoch(
            trained, loader, criterion, optimizer, scheduler, scaler, device, epoch, progress
        )
        val_probs, _ = evaluate(net, backbone, export.split("val"), recipe, device, config, attrs)
        f1 = classification_metrics(y_val, val_probs.argmax(1), export.genres)["weighted_f1"]
        row = {
            "epoch": epoch + 1,
            "train_loss": round(loss, 4),
            "val_weighted_f1": round(f1, 4),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        state["history"].append(row)
        if f1 > state["best_f1"]:
            state.update(
                best_f1=f1,
                best_epoch=epoch + 1,
                best_state={k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
            )
        state["epoch"] = epoch + 1
        if rank.main:  # every rank evaluated the same network: the same early stop
            _checkpoint(last, net, optimizer, scheduler, config, state)
            _summary_csv(ckpt_dir / "summary.csv", state["history"])
        if epoch + 1 - state["best_epoch"] >= PATIENCE:
            break  # early stopping on val weighted F1
    if state["best_state"] is not None:
        net.load_state_dict(state["best_state"])
    train_seconds = time.perf_counter() - start
    val_probs, _ = evaluate(net, backbone, export.split("val"), recipe, device, config, attrs)
    test_probs, ips = evaluate(net, backbone, export.split("test"), recipe, device, config, attrs)
    head = linear_head(net)
    params = {
        "image_size": size,
        "train_stages": stages,
        "augment": config.augment,
        "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"],
        "history": state["history"],
        **({"attribute_columns": attrs.block.columns} if attrs else {}),
    }
    fitted = FittedHead("finetune", head, val_probs, params, train_seconds)
    payload = package(
        method="finetune",
        kind="network",
        genres=export.genres,
        dataset_id=export.dataset_id,
        backbone=backbone,
        weights=config.weights,
        recipe=recipe,
        head=head,
        extra={"params": params},
    )
    if attrs is not None:
        payload["side"] = attrs.side(backbone.feature_dim).to_dict()
    return MethodOutcome(fitted, test_probs, ips, payload, network=backbone)


def _checkpoint(
    path: Path,
    net: FineTuneNet,
    optimizer: torch.optim.Optimizer,
    scheduler: LRScheduler,
    config: TrainConfig,
    state: dict[str, Any],
) -> None:
    with atomic_path(path) as tmp:
        torch.save(
            {
                "model": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "config": {**asdict(config)},
                "state": state,
            },
            tmp,
        )


def _resume(
    path: Path,
    net: FineTuneNet,
    optimizer: torch.optim.Optimizer,
    scheduler: LRScheduler,
    config: TrainConfig,
) -> dict[str, Any]:
    # tensors and plain containers only: a checkpoint swapped in by someone else cannot run code
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    saved = ckpt["config"]
    keys = ("backbone", "weights", "seed", "augment", "finetune_size", "train_stages")
    for key in (*keys, "finetune_attributes"):
        # a checkpoint from before the attributes option was made without them
        if saved.get(key, False if key == "finetune_attributes" else None) != getattr(config, key):
            raise DataError(
                f"cannot resume {path}: it was made with {key}={saved.get(key)!r}, "
                f"this run asks {key}={getattr(config, key)!r}"
            )
    net.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    return ckpt["state"]


def _summary_csv(path: Path, history: list[dict]) -> None:
    columns = list(history[0])
    with path.open("w", newline="", encoding="utf-8") as fh:
        csvfile.write(fh, columns, ([epoch.get(c, "") for c in columns] for epoch in history))


class FineTuneRung:
    """Fine-tune the backbone ("finetune"), and/or an SVC on its features joined with the
    frozen stack's ("hybrid"; its time includes the fine-tune it needs)."""

    names = ("finetune", "hybrid")

    def wanted(self, config: TrainConfig) -> bool:
        return any(m in self.names for m in config.methods)

    def fit(self, ctx: RungContext) -> list[MethodOutcome]:
        methods = ctx.config.methods
        tuned = run_finetune(ctx.export, ctx.config, ctx.device, ctx.run.checkpoints_dir)
        out = [tuned] if "finetune" in methods else []
        if "hybrid" in methods:
            assert tuned.network is not None
            hybrid = run_hybrid(ctx.export, ctx.config, ctx.device, ctx.cache_root, tuned.network)
            hybrid.fitted.train_seconds += tuned.fitted.train_seconds  # its fine-tune counts
            out.append(hybrid)
        return out
