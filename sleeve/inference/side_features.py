"""Early fusion: side features (cover attributes, OCR text) beside the image embedding.

A side rung is named ``[head+][pcaN+]token[+token...]``:

- ``head``: ``svc`` or ``logreg``; when given, the image embedding is one of the blocks (the
  head and the image: ``svc+attrs``); without it the side blocks stand alone, on an SVC
  (``attrs``, ``text-early``).
- ``pcaN``: the image embedding reduced to its first N principal components (train only).
- tokens: ``attrs`` (every column of ATTR_GROUPS in the export's attributes.csv; not the
  style or text share columns), ``attrs:GROUP`` (one group: colour, texture, structure,
  faces), ``text-early`` (character n-gram TF-IDF of the cover's OCR words, reduced by
  truncated SVD to at most ``TEXT_DIMS`` dimensions).

Every block is standardised with train statistics, then scaled so its total variance is its
weight (1 for the image; the side blocks' shared weight is chosen on val): without this a
few dozen attribute columns beside 1,280 embedding dimensions would barely move an RBF kernel.
Everything stored is plain arrays (means, scales, PCA/SVD components, vocabulary, idf), so
model.pt still loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from sleeve.core import csvfile
from sleeve.core.errors import ConfigError, DataError
from sleeve.dataset.attributes.base import CoverView
from sleeve.dataset.attributes.registry import EXTRACTORS, resolve
from sleeve.dataset.export import ATTRIBUTES_TABLE, DatasetExport
from sleeve.inference.text_head import CharTfidf

ATTR_GROUPS = ("colour", "texture", "structure", "faces")
HEADS = ("svc", "logreg")
TEXT_DIMS = 64
SIDE_HELP = "e.g. attrs, svc+attrs, svc+attrs:colour, svc+pca128+attrs, svc+text-early"
_PCA = re.compile(r"^pca(\d+)$")
ATTRS_MISSING = (
    f"the export has no {ATTRIBUTES_TABLE}: run build-dataset with --attributes on (the default)"
)


@dataclass(frozen=True)
class SideSpec:
    name: str
    head: str  # svc | logreg
    image: bool
    pca: int | None  # image principal components kept (None: all dimensions)
    groups: tuple[str, ...]  # attribute groups, in ATTR_GROUPS order; () for none
    text: bool
    every: bool = False  # ``attrs``: every group the export's attributes.csv has

    @property
    def sides(self) -> tuple[str, ...]:
        return (*(["attrs"] if self.groups else []), *(["text"] if self.text else []))


def parse_side(name: str) -> SideSpec | None:
    """The spec of a side rung's name, or None when ``name`` is not one."""
    parts = name.strip().lower().split("+")
    head, image, pca = "svc", False, None
    if parts and parts[0] in HEADS:
        head, image, parts = parts[0], True, parts[1:]
    if image and parts and (kept := _PCA.match(parts[0])):
        pca, parts = int(kept.group(1)), parts[1:]
    groups: set[str] = set()
    text = every = False
    if not parts:
        return None
    for token in parts:
        if token == "attrs":
            groups.update(ATTR_GROUPS)
            every = True
        elif token.startswith("attrs:") and token[6:] in ATTR_GROUPS:
            groups.add(token[6:])
        elif token == "text-early" and not text:
            text = True
        else:
            return None
    if pca is not None and pca < 1:
        return None
    ordered = tuple(g for g in ATTR_GROUPS if g in groups)
    return SideSpec(name, head, image, pca, ordered, text, every)


def is_side_method(name: str) -> bool:
    return parse_side(name) is not None


# -- attributes.csv ------------------------------------------------------------------------------


@dataclass
class AttributeTable:
    columns: list[str]  # ``group.field``, numeric only
    rows: dict[str, np.ndarray]  # sha256 -> values (NaN: not measured)
    extractors: dict[str, str]  # group -> extractor name (faces-mtcnn / faces-haar ...)


def read_attribute_table(export: DatasetExport) -> AttributeTable | None:
    """The export's numeric attribute columns, or None when it has no attributes.csv."""
    path = export.side_file(ATTRIBUTES_TABLE)
    if not path.is_file():
        return None
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            header, raw = csvfile.read_rows(fh)
        if not header:
            raise csvfile.Error("no header row")
    except (OSError, csvfile.Error, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    # the palette columns are lists (``#rrggbb;...``): the scalar colour fields summarise them
    keep = [i for i, c in enumerate(header) if c != "sha256" and "palette" not in c]
    rows = {}
    for r in raw:
        if not r or len(r) != len(header):
            continue
        rows[r[0]] = np.array([_float(r[i]) for i in keep], dtype=np.float64)
    columns = [header[i] for i in keep]
    named = export.card.attributes.extractors if export.card.attributes else {}
    extractors = {n.split("-", 1)[0]: n for n in named}
    for c in columns:
        extractors.setdefault(c.split(".", 1)[0], c.split(".", 1)[0])
    return AttributeTable(columns, rows, extractors)


def side_groups(table: AttributeTable, groups: Sequence[str] = ATTR_GROUPS) -> AttributeTable:
    """``table`` with only the columns of ``groups``: by default the groups a side feature
    takes (a new cover's values computed by their extractors). The export's style label and
    probabilities and its text share (from the OCR cache, no extractor) are left out."""
    keep = [i for i, c in enumerate(table.columns) if c.split(".", 1)[0] in groups]
    return AttributeTable(
        [table.columns[i] for i in keep],
        {sha: row[keep] for sha, row in table.rows.items()},
        {g: n for g, n in table.extractors.items() if g in groups},
    )


def _float(cell: str) -> float:
    try:
        return float(cell) if cell != "" else math.nan
    except ValueError:
        return math.nan


# -- blocks --------------------------------------------------------------------------------------


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


def _np(v: torch.Tensor | np.ndarray | list) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().numpy().astype(np.float64)
    return np.asarray(v, dtype=np.float64)


@dataclass
class Block:
    """One standardised, weighted block: ``((x - mean) / scale) [@ components.T] * factor``.

    For ``text`` x is the TF-IDF row reduced by ``svd`` first; for ``image`` ``components``
    (optional) is a PCA of the standardised embedding."""

    kind: str  # image | attrs | text
    mean: np.ndarray
    scale: np.ndarray
    factor: float = 1.0
    components: np.ndarray | None = None  # image PCA (k, d)
    columns: list[str] = field(default_factory=list)  # attrs
    extractors: dict[str, str] = field(default_factory=dict)  # attrs: group -> extractor
    tfidf: CharTfidf | None = None  # text
    svd: np.ndarray | None = None  # text: (k, n_terms)

    @property
    def dims(self) -> int:
        return len(self.mean) if self.components is None else len(self.components)

    def raw(self, x: np.ndarray | Sequence[str]) -> np.ndarray:
        """Text: TF-IDF then SVD; attributes: NaN (unmeasured) -> the train mean."""
        if self.kind == "text":
            assert self.tfidf is not None and self.svd is not None
            return np.asarray(self.tfidf.transform(list(x)) @ self.svd.T, dtype=np.float64)
        arr = np.asarray(x, dtype=np.float64)
        if self.kind == "attrs":
            arr = np.where(np.isnan(arr), self.mean, arr)
        return arr

    def transform(self, x: np.ndarray | Sequence[str]) -> np.ndarray:
        z = (self.raw(x) - self.mean) / self.scale
        if self.components is not None:
            z = z @ self.components.T
        return z * self.factor

    def to_dict(self) -> dict:
        d: dict = {
            "kind": self.kind,
            "mean": _t(self.mean),
            "scale": _t(self.scale),
            "factor": float(self.factor),
        }
        if self.components is not None:
            d["components"] = _t(self.components)
        if self.kind == "attrs":
            d["columns"] = list(self.columns)
            d["extractors"] = dict(self.extractors)
        if self.kind == "text":
            assert self.tfidf is not None and self.svd is not None
            d["vocab"] = list(self.tfidf.vocab)
            d["idf"] = _t(self.tfidf.idf)
            d["svd"] = torch.from_numpy(np.ascontiguousarray(self.svd, dtype=np.float32))
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Block:
        kind = d.get("kind")
        if kind not in ("image", "attrs", "text"):
            raise DataError(f"unknown side-feature block {kind!r}; retrain the model")
        tfidf = CharTfidf(list(d["vocab"]), _np(d["idf"])) if kind == "text" else None
        return cls(
            kind,
            _np(d["mean"]),
            _np(d["scale"]),
            float(d["factor"]),
            _np(d["components"]) if "components" in d else None,
            list(d.get("columns", [])),
            dict(d.get("extractors", {})),
            tfidf,
            _np(d["svd"]) if "svd" in d else None,
        )


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.nanmean(x, axis=0) if len(x) else np.zeros(x.shape[1])
    mean = np.where(np.isnan(mean), 0.0, mean)  # a column never measured on train
    filled = np.where(np.isnan(x), mean, x)
    scale = filled.std(axis=0)
    return mean, np.where(scale > 1e-8, scale, 1.0)


def _weight_factor(block: Block, train: np.ndarray | Sequence[str], weight: float) -> float:
    """The factor giving the block's train total variance ``weight``."""
    z = (block.raw(train) - block.mean) / block.scale
    if block.components is not None:
        z = z @ block.components.T
    total = float(z.var(axis=0).sum())
    return math.sqrt(weight / total) if total > 1e-12 else 0.0


def fit_image_block(x_train: np.ndarray, pca: int | None) -> Block:
    mean, scale = _stats(x_train)
    block = Block("image", mean, scale)
    if pca is not None:
        z = (x_train - mean) / scale
        _, _, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
        block.components = vt[: min(pca, len(vt))]
    block.factor = _weight_factor(block, x_train, 1.0)
    return block


def fit_attr_block(
    x_train: np.ndarray, columns: list[str], extractors: dict[str, str], weight: float = 1.0
) -> Block:
    mean, scale = _stats(x_train)
    groups = {c.split(".", 1)[0] for c in columns}
    block = Block(
        "attrs",
        mean,
        scale,
        columns=list(columns),
        extractors={g: n for g, n in extractors.items() if g in groups},
    )
    block.factor = _weight_factor(block, x_train, weight)
    return block


def fit_text_block(texts: Sequence[str], seed: int = 0, dims: int = TEXT_DIMS) -> Block:
    """Char n-gram TF-IDF (the text rung's) on the train covers' words, truncated SVD."""
    from sklearn.decomposition import TruncatedSVD

    tfidf = CharTfidf.fit(texts)
    x = tfidf.transform(texts)
    k = max(1, min(dims, x.shape[1] - 1, x.shape[0] - 1))
    svd = TruncatedSVD(n_components=k, random_state=seed).fit(x)
    block = Block("text", np.zeros(k), np.ones(k), tfidf=tfidf, svd=svd.components_)
    reduced = block.raw(texts)
    block.mean, block.scale = _stats(reduced)
    block.factor = _weight_factor(block, texts, 1.0)
    return block


@dataclass
class SideFeatures:
    """The blocks of one side rung, applied in order and concatenated."""

    blocks: list[Block]

    def block(self, kind: str) -> Block | None:
        return next((b for b in self.blocks if b.kind == kind), None)

    @property
    def needs_text(self) -> bool:
        return self.block("text") is not None

    @property
    def needs_image(self) -> bool:
        return self.block("image") is not None

    def transform(
        self,
        image: np.ndarray | None = None,
        attrs: np.ndarray | None = None,
        texts: Sequence[str] | None = None,
    ) -> np.ndarray:
        inputs = {"image": image, "attrs": attrs, "text": texts}
        parts = []
        for b in self.blocks:
            value = inputs[b.kind]
            if value is None:
                raise ValueError(f"side features need the {b.kind} input")
            parts.append(b.transform(value))
        return np.hstack(parts)

    def with_side_weight(self, weight: float, train: dict) -> SideFeatures:
        """The same blocks, the side blocks rescaled to total variance ``weight`` each."""
        out = []
        for b in self.blocks:
            nb = Block(**{**b.__dict__})
            if b.kind != "image":
                nb.factor = _weight_factor(b, train[b.kind], weight)
            out.append(nb)
        return SideFeatures(out)

    def to_dict(self) -> dict:
        return {"type": "side-features", "blocks": [b.to_dict() for b in self.blocks]}

    @classmethod
    def from_dict(cls, d: object) -> SideFeatures:  # model.pt's block, checked before use
        if not isinstance(d, dict) or d.get("type") != "side-features":
            raise DataError("model.pt's side block is not side features; retrain the model")
        return cls([Block.from_dict(b) for b in d["blocks"]])


# -- a new cover's attributes --------------------------------------------------------------------


def check_extractors(extractors: dict[str, str]) -> None:
    """Raise a one-line ConfigError naming the package an extractor needs when it is absent."""

    for name in extractors.values():
        resolve([name])  # texture / faces-mtcnn: the install line when their package is missing
        ex = EXTRACTORS[name]
        if name == "faces-haar":
            try:
                import cv2  # noqa: F401
            except ImportError:
                raise ConfigError(
                    f"this model measures faces with {name}: pip install '{ex.requires}'"
                ) from None


def cover_attributes(view: CoverView, columns: list[str], extractors: dict[str, str]) -> np.ndarray:
    """The ``columns`` of one decoded cover (a CoverView), computed by the stored extractors."""

    values: dict[str, dict] = {}
    out = np.full(len(columns), math.nan)
    for i, col in enumerate(columns):
        group, fld = col.split(".", 1)
        name = extractors.get(group, group)
        if name not in values:
            values[name] = EXTRACTORS[name].compute(view)
        v = values[name].get(fld)
        out[i] = float(v) if isinstance(v, int | float) else math.nan
    return out
