"""Validate a model file's payload before anything runs it (issue 21 #6, #7).

``torch.load(weights_only=True)`` only guarantees that the file holds plain containers,
numbers, strings and tensors. Everything else is checked here, once, at load: keys and types,
finite numbers, array shapes that agree with each other, with the backbone's real feature width
and with the genre count, tree structure (children -1 or a later node, so no cycle), nesting
depth, sane sizes. A file that fails gets one :class:`ModelFileError` line naming the field.

Memory is bounded before ``torch.load`` allocates: the file is a ``torch.save`` zip archive whose
entries are summed by their *uncompressed* size (a deflated entry could otherwise expand), and
the pickle part, which becomes Python objects, has its own smaller cap.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from sleeve.core.errors import ModelFileError
from sleeve.core.vision.backbones import BACKBONES, STACK_SEP

# Largest model sleeve writes: a fine-tuned ConvNeXt stack is well under 1 GiB.
MAX_MODEL_BYTES = 2 * 1024**3
# The pickle part (dict keys, genre names, a text head's vocabulary): a few MB in practice.
MAX_PICKLE_BYTES = 64 * 1024**2
MAX_ENTRIES = 100_000  # one per tensor storage: a four-backbone stack has a few thousand
MAX_DEPTH = 8  # ensembles and projections nest at most twice in anything sleeve writes
MAX_MEMBERS = 64
MAX_GENRES = 1000
SIZE_RANGE = (32, 1024)  # preprocess/recipe image side, px
MAX_OBLIVIOUS_DEPTH = 16  # 2**depth leaves per tree
MAX_ARTISTS = 200_000  # an artist table's rows: a full MusicBrainz harvest names far fewer
MAX_NAME = 300  # characters in an artist key or name
MAX_ARTIST_COUNT = 10**9  # covers behind one artist in one genre
MAX_ARTIST_WEIGHT = 100.0
# zipfile's own end-of-archive reader (private, unchanged since Python 2): the entry count
# before ZipFile builds one object per entry
_END_RECORD = getattr(zipfile, "_EndRecData")  # noqa: B009
_ENTRIES_TOTAL = getattr(zipfile, "_ECD_ENTRIES_TOTAL")  # noqa: B009
RETRAIN = "retrain with train-and-evaluate, or pass --model with another run"

HEAD_KEYS: dict[str, tuple[str, ...]] = {
    "linear": ("weight", "bias"),
    "knn": ("vectors", "labels", "k", "n_classes"),
    "svc": (
        "kernel",
        "gamma",
        "support_vectors",
        "dual_coef",
        "intercept",
        "n_support",
        "classes",
        "n_classes",
        "temperature",
    ),
    "forest": ("left", "right", "feature", "threshold", "value", "roots", "classes", "n_classes"),
    "oblivious": ("features", "borders", "leaf_values", "scale", "bias", "classes", "n_classes"),
    "ensemble": ("members", "weights"),
    "projected": ("projection", "head"),
}


class _Invalid(Exception):
    """Raised inside the checks; :func:`_refuse` turns it into the one-line error."""


def _refuse(where: str, problem: str) -> ModelFileError:
    return ModelFileError(f"{where} is not a usable sleeve model: {problem}; {RETRAIN}")


def check_archive(path: Path) -> None:
    """Refuse, before ``torch.load`` reads it, a file that is not a ``torch.save`` archive or
    whose entries would take more memory than any model sleeve writes."""
    unreadable = ModelFileError(
        f"{path} is not a readable sleeve model (damaged, truncated or another kind of "
        "file): run train-and-evaluate again, or pass --model with another run"
    )
    try:
        on_disk = path.stat().st_size
        with path.open("rb") as fh:  # the entry count, before zipfile lists every entry
            end = _END_RECORD(fh)
        if end is None:
            raise unreadable
        if on_disk > MAX_MODEL_BYTES or end[_ENTRIES_TOTAL] > MAX_ENTRIES:
            raise _refuse(
                str(path),
                f"it is {on_disk:,} bytes in {end[_ENTRIES_TOTAL]:,} entries, over "
                f"the limits ({MAX_MODEL_BYTES:,} bytes, {MAX_ENTRIES:,} entries)",
            )
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, IndexError) as exc:
        raise unreadable from exc
    total = sum(e.file_size for e in entries)
    pickled = sum(e.file_size for e in entries if e.filename.endswith(".pkl"))
    if total > MAX_MODEL_BYTES or pickled > MAX_PICKLE_BYTES:
        raise _refuse(
            str(path),
            f"it would take {total:,} bytes ({pickled:,} of them pickled objects) to load; "
            f"the limits are {MAX_MODEL_BYTES:,} and {MAX_PICKLE_BYTES:,}",
        )


# --- primitives ------------------------------------------------------------------------------


def _field(d: dict, key: str, name: str) -> object:
    if key not in d:
        raise _Invalid(f"{name}.{key} is missing")
    return d[key]


def _dict(value: object, name: str) -> dict:
    if not isinstance(value, dict):
        raise _Invalid(f"{name} is {type(value).__name__}, not a mapping")
    return value


def _int(value: object, name: str, lo: int, hi: int) -> int:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise _Invalid(f"{name} is {value!r}, not an integer")
    if not lo <= int(value) <= hi:
        raise _Invalid(f"{name} is {value}, outside {lo}..{hi}")
    return int(value)


def _float(value: object, name: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise _Invalid(f"{name} is {value!r}, not a number")
    number = float(value)
    if not math.isfinite(number):
        raise _Invalid(f"{name} is {number}, not a finite number")
    if not lo <= number <= hi:
        raise _Invalid(f"{name} is {number}, outside {lo}..{hi}")
    return number


def _str(value: object, name: str, choices: Sequence[str] | None = None) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"{name} is {type(value).__name__}, not text")
    if choices is not None and value not in choices:
        raise _Invalid(f"{name} is {value!r}; expected one of {', '.join(choices)}")
    return value


def _array(
    value: object,
    name: str,
    shape: Sequence[int | None],
    *,
    integer: bool = False,
    allow_inf: bool = False,
) -> np.ndarray:
    """``value`` as an array of ``len(shape)`` dimensions; ``None`` leaves one free. Float
    arrays must be finite (``allow_inf``: +-inf allowed, never NaN)."""
    if isinstance(value, torch.Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise _Invalid(f"{name} has dtype {value.dtype}")
        array = value.detach().cpu().numpy()
    elif isinstance(value, list | tuple):
        try:
            array = np.asarray(value)
        except ValueError as exc:
            raise _Invalid(f"{name} is a ragged list") from exc
    else:
        raise _Invalid(f"{name} is {type(value).__name__}, not an array")
    if array.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(array.shape, shape, strict=True)
    ):
        expected = "x".join("?" if w is None else str(w) for w in shape) or "scalar"
        raise _Invalid(f"{name} has shape {tuple(array.shape)}, expected {expected}")
    if integer:  # whole floats pass: CatBoost heads store their class numbers as float64
        whole = array.dtype.kind in "iu" or (
            array.dtype.kind == "f"
            and bool(np.all(np.isfinite(array) & (array == np.round(array))))
        )
        if array.size and not whole:
            raise _Invalid(f"{name} holds {array.dtype} values that are not whole numbers")
        if array.size and array.dtype.kind == "f" and np.abs(array).max() > 2**53:
            raise _Invalid(f"{name} holds numbers too large to be indices")
        return array.astype(np.int64)
    if array.dtype.kind not in "iuf" and array.size:
        raise _Invalid(f"{name} holds {array.dtype} values, not numbers")
    array = array.astype(np.float64)
    bad = np.isnan(array) if allow_inf else ~np.isfinite(array)
    if bad.any():
        raise _Invalid(f"{name} holds NaN or infinite values")
    return array


def _in_range(array: np.ndarray, name: str, lo: int, hi: int) -> None:
    """Every value in ``lo <= v < hi``."""
    if array.size and (array.min() < lo or array.max() >= hi):
        raise _Invalid(
            f"{name} holds {int(array.min())}..{int(array.max())}, outside {lo}..{hi - 1}"
        )


def _standardiser(head: dict, name: str, width: int) -> None:
    if head.get("mean") is not None:
        _array(head["mean"], f"{name}.mean", [width])
        scale = _array(_field(head, "scale", name), f"{name}.scale", [width])
        if (scale == 0).any():
            raise _Invalid(f"{name}.scale holds zeros")


def _classes(head: dict, name: str, n_classes: int) -> np.ndarray:
    classes = _array(head["classes"], f"{name}.classes", [None], integer=True)
    _in_range(classes, f"{name}.classes", 0, n_classes)
    if len(np.unique(classes)) != len(classes) or not len(classes):
        raise _Invalid(f"{name}.classes is empty or repeats a class")
    return classes


# --- heads -----------------------------------------------------------------------------------


def head_outputs(head: object, name: str, width: int, depth: int = 0) -> int:
    """Check ``head`` reading ``width`` features; return how many class columns it outputs."""
    if depth > MAX_DEPTH:
        raise _Invalid(f"{name} nests more than {MAX_DEPTH} heads deep")
    kind = head.get("type") if isinstance(head, dict) else None
    if kind == "sklearn":
        raise _Invalid(
            f"{name} is a pickled scikit-learn head (an earlier sleeve's format), which could "
            "run code when loaded; it is refused"
        )
    if kind not in HEAD_KEYS:
        raise _Invalid(
            f"{name} has unknown head type {kind!r} (upgrade sleeve if a newer one wrote it)"
        )
    assert isinstance(head, dict)
    missing = [k for k in HEAD_KEYS[kind] if k not in head]
    if missing:
        raise _Invalid(f"{name}: the {kind} head lacks {', '.join(missing)}")
    return _CHECKS[kind](head, f"{name}[{kind}]", width, depth)


def _linear(head: dict, name: str, width: int, depth: int) -> int:
    _standardiser(head, name, width)
    weight = _array(head["weight"], f"{name}.weight", [None, width])
    _array(head["bias"], f"{name}.bias", [len(weight)])
    return len(weight)


def _knn(head: dict, name: str, width: int, depth: int) -> int:
    n_classes = _int(head["n_classes"], f"{name}.n_classes", 1, MAX_GENRES)
    vectors = _array(head["vectors"], f"{name}.vectors", [None, width])
    if not len(vectors):
        raise _Invalid(f"{name}.vectors is empty")
    labels = _array(head["labels"], f"{name}.labels", [len(vectors)], integer=True)
    _in_range(labels, f"{name}.labels", 0, n_classes)
    _int(head["k"], f"{name}.k", 1, 10_000)
    return n_classes


def _svc(head: dict, name: str, width: int, depth: int) -> int:
    n_classes = _int(head["n_classes"], f"{name}.n_classes", 2, MAX_GENRES)
    _str(head["kernel"], f"{name}.kernel", ("rbf", "linear"))
    _float(head["gamma"], f"{name}.gamma", 0.0)
    _float(head["temperature"], f"{name}.temperature", 1e-6)
    _standardiser(head, name, width)
    classes = _classes(head, name, n_classes)
    c = len(classes)
    if c < 2:
        raise _Invalid(f"{name}.classes has {c} class; an SVC needs two")
    sv = _array(head["support_vectors"], f"{name}.support_vectors", [None, width])
    counts = _array(head["n_support"], f"{name}.n_support", [c], integer=True)
    if (counts < 0).any() or counts.sum() != len(sv):
        raise _Invalid(f"{name}.n_support does not add up to the {len(sv)} support vectors")
    _array(head["dual_coef"], f"{name}.dual_coef", [c - 1, len(sv)])
    _array(head["intercept"], f"{name}.intercept", [c * (c - 1) // 2])
    return n_classes


def _forest(head: dict, name: str, width: int, depth: int) -> int:
    n_classes = _int(head["n_classes"], f"{name}.n_classes", 1, MAX_GENRES)
    classes = _classes(head, name, n_classes)
    left = _array(head["left"], f"{name}.left", [None], integer=True)
    nodes = len(left)
    right = _array(head["right"], f"{name}.right", [nodes], integer=True)
    feature = _array(head["feature"], f"{name}.feature", [nodes], integer=True)
    _array(head["threshold"], f"{name}.threshold", [nodes])
    _array(head["value"], f"{name}.value", [nodes, len(classes)])
    roots = _array(head["roots"], f"{name}.roots", [None], integer=True)
    if not len(roots):
        raise _Invalid(f"{name}.roots is empty")
    _in_range(roots, f"{name}.roots", 0, nodes)
    _in_range(feature, f"{name}.feature", 0, width)
    index = np.arange(nodes)
    for side, children in (("left", left), ("right", right)):
        # a child always comes after its parent: every path ends, no cycle is possible
        inner = children != -1
        if ((children[inner] <= index[inner]) | (children[inner] >= nodes)).any():
            raise _Invalid(f"{name}.{side} points at a node that is not a later one (a cycle?)")
    if ((left == -1) != (right == -1)).any():
        raise _Invalid(f"{name}: a node has one child")
    return n_classes


def _oblivious(head: dict, name: str, width: int, depth: int) -> int:
    n_classes = _int(head["n_classes"], f"{name}.n_classes", 2, MAX_GENRES)
    classes = _classes(head, name, n_classes)
    features = _array(head["features"], f"{name}.features", [None, None], integer=True)
    trees, tree_depth = features.shape
    if tree_depth > MAX_OBLIVIOUS_DEPTH:
        raise _Invalid(
            f"{name}.features is {tree_depth} splits deep (at most {MAX_OBLIVIOUS_DEPTH})"
        )
    _in_range(features, f"{name}.features", 0, width)
    _array(head["borders"], f"{name}.borders", [trees, tree_depth], allow_inf=True)
    leaves = _array(head["leaf_values"], f"{name}.leaf_values", [trees, 1 << tree_depth, None])
    dims = leaves.shape[2]
    if dims != (1 if len(classes) == 2 else len(classes)):
        raise _Invalid(f"{name}.leaf_values has {dims} dimensions for {len(classes)} classes")
    _float(head["scale"], f"{name}.scale")
    _array(head["bias"], f"{name}.bias", [dims])
    return n_classes


def _ensemble(head: dict, name: str, width: int, depth: int) -> int:
    members, weights = head["members"], head["weights"]
    if not isinstance(members, list | tuple) or not 1 <= len(members) <= MAX_MEMBERS:
        raise _Invalid(f"{name}.members is not a list of 1..{MAX_MEMBERS} heads")
    if not isinstance(weights, list | tuple) or len(weights) != len(members):
        raise _Invalid(f"{name}.weights is not one number per member")
    values = [_float(w, f"{name}.weights[{i}]", 0.0) for i, w in enumerate(weights)]
    if sum(values) <= 0:
        raise _Invalid(f"{name}.weights sum to {sum(values)}, not a positive number")
    outputs = {
        head_outputs(m, f"{name}.members[{i}]", width, depth + 1) for i, m in enumerate(members)
    }
    if len(outputs) != 1:
        raise _Invalid(f"{name}.members disagree on the number of classes ({sorted(outputs)})")
    return outputs.pop()


def _projected(head: dict, name: str, width: int, depth: int) -> int:
    projection = _dict(head["projection"], f"{name}.projection")
    _standardiser(projection, f"{name}.projection", width)
    layers = projection.get("layers")
    if not isinstance(layers, list | tuple) or not 1 <= len(layers) <= MAX_DEPTH:
        raise _Invalid(f"{name}.projection has no usable layers")
    for i, layer in enumerate(layers):
        where = f"{name}.projection.layers[{i}]"
        layer = _dict(layer, where)
        weight = _array(_field(layer, "weight", where), f"{where}.weight", [None, width])
        _array(_field(layer, "bias", where), f"{where}.bias", [len(weight)])
        width = len(weight)
        if not width:
            raise _Invalid(f"{where}.weight has no outputs")
    return head_outputs(head["head"], f"{name}.head", width, depth + 1)


_CHECKS = {
    "linear": _linear,
    "knn": _knn,
    "svc": _svc,
    "forest": _forest,
    "oblivious": _oblivious,
    "ensemble": _ensemble,
    "projected": _projected,
}


def check_head(head: object, where: str, width: int, n_classes: int) -> None:
    """Refuse (one line naming ``where``) a head that cannot read ``width`` features into
    ``n_classes`` genre columns."""
    try:
        outputs = head_outputs(head, "head", width)
        if outputs != n_classes:
            raise _Invalid(f"the head answers {outputs} classes for {n_classes} genres")
    except _Invalid as exc:
        raise _refuse(where, str(exc)) from None


# --- the rest of the payload -----------------------------------------------------------------


def check_payload(payload: dict, where: str, version: int) -> None:
    """Everything but the head's input width (which needs the built backbone): identity,
    genres, backbone, preprocess, recipe, optional text and side blocks."""
    try:
        _check_payload(payload, version)
    except _Invalid as exc:
        raise _refuse(where, str(exc)) from None


def _check_payload(payload: dict, version: int) -> None:
    _int(_field(payload, "version", "model"), "version", 1, version)
    for key in ("method", "dataset_id"):
        _str(_field(payload, key, "model"), key)
    genres = _field(payload, "genres", "model")
    if not isinstance(genres, list | tuple) or not 1 <= len(genres) <= MAX_GENRES:
        raise _Invalid(f"genres is not a list of 1..{MAX_GENRES} names")
    for i, genre in enumerate(genres):
        if not _str(genre, f"genres[{i}]").strip() or not genre.isprintable() or len(genre) > 100:
            raise _Invalid(f"genres[{i}] is not a usable genre name")
    if len(set(genres)) != len(genres):
        raise _Invalid("genres repeats a name")
    backbone = _dict(_field(payload, "backbone", "model"), "backbone")
    parts = _str(_field(backbone, "name", "backbone"), "backbone.name").split(STACK_SEP)
    if not 1 <= len(parts) <= 4 or any(p not in BACKBONES for p in parts):
        raise _Invalid(f"backbone.name {backbone['name']!r} is not a backbone this sleeve knows")
    _str(_field(backbone, "source", "backbone"), "backbone.source")
    _field(backbone, "pretrained", "backbone")
    state = _dict(_field(payload, "backbone_state", "model"), "backbone_state")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise _Invalid("backbone_state is not a mapping of names to tensors")
    pre = _dict(_field(payload, "preprocess", "model"), "preprocess")
    _int(_field(pre, "size", "preprocess"), "preprocess.size", *SIZE_RANGE)
    _array(_field(pre, "mean", "preprocess"), "preprocess.mean", [3])
    std = _array(_field(pre, "std", "preprocess"), "preprocess.std", [3])
    if (std <= 0).any():
        raise _Invalid("preprocess.std holds a value <= 0")
    from torchvision.transforms import InterpolationMode

    modes = [m.value for m in InterpolationMode]
    _str(_field(pre, "interpolation", "preprocess"), "preprocess.interpolation", modes)
    recipe = _dict(_field(payload, "recipe", "model"), "recipe")
    _int(_field(recipe, "size", "recipe"), "recipe.size", *SIZE_RANGE)
    taps = recipe.get("taps", [])
    if not isinstance(taps, list | tuple) or len(taps) > 16:
        raise _Invalid("recipe.taps is not a short list of stage numbers")
    for i, tap in enumerate(taps):
        _int(tap, f"recipe.taps[{i}]", -64, 64)
    if payload.get("text") is not None:
        _check_text(_dict(payload["text"], "text"), genres)


def _check_text(text: dict, genres: Sequence[str]) -> None:
    n_genres = len(genres)
    _float(_field(text, "weight", "text"), "text.weight", 0.0, 1.0)
    head = _dict(_field(text, "head", "text"), "text.head")
    vocab = _vocab(_field(head, "vocab", "text.head"), "text.head.vocab")
    _array(_field(head, "idf", "text.head"), "text.head.idf", [len(vocab)])
    _array(_field(head, "coef", "text.head"), "text.head.coef", [n_genres, len(vocab)])
    _array(_field(head, "intercept", "text.head"), "text.head.intercept", [n_genres])
    if text.get("artists") is not None:
        _check_artists(_dict(text["artists"], "text.artists"), genres)


def _check_artists(table: dict, genres: Sequence[str]) -> None:
    """The fused rung's artist table (sleeve/inference/artist_table.py): plain lists only,
    one row of whole, non-negative counts per artist, columns in the model's genre order."""
    name = "text.artists"
    _str(_field(table, "type", name), f"{name}.type", ("artist-table",))
    own = _field(table, "genres", name)
    if not isinstance(own, list | tuple) or list(own) != list(genres):
        raise _Invalid(f"{name}.genres is not the model's genres in the model's order")
    _float(_field(table, "weight", name), f"{name}.weight", 0.0, MAX_ARTIST_WEIGHT)
    _float(_field(table, "smoothing", name), f"{name}.smoothing", 1e-6, 1e6)
    _int(_field(table, "min_covers", name), f"{name}.min_covers", 1, MAX_ARTIST_COUNT)
    keys = _names(_field(table, "keys", name), f"{name}.keys")
    if not all(keys):
        raise _Invalid(f"{name}.keys holds an empty key")
    if len(set(keys)) != len(keys):
        raise _Invalid(f"{name}.keys repeats an artist")
    names = _names(_field(table, "names", name), f"{name}.names")
    if len(names) != len(keys):
        raise _Invalid(f"{name}.names has {len(names)} names for {len(keys)} artists")
    counts = _field(table, "counts", name)
    if not isinstance(counts, list | tuple) or not all(
        isinstance(row, list | tuple) and all(_whole(c) for c in row) for row in counts
    ):
        raise _Invalid(f"{name}.counts is not a list of rows of whole numbers")
    array = _array(counts, f"{name}.counts", [len(keys), len(genres)], integer=True)
    _in_range(array, f"{name}.counts", 0, MAX_ARTIST_COUNT + 1)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _names(value: object, name: str) -> list[str]:
    """A list of at most MAX_ARTISTS short printable strings."""
    if not isinstance(value, list | tuple) or len(value) > MAX_ARTISTS:
        raise _Invalid(f"{name} is not a list of at most {MAX_ARTISTS:,} names")
    for i, item in enumerate(value):
        if not isinstance(item, str) or len(item) > MAX_NAME or not item.isprintable():
            raise _Invalid(f"{name}[{i}] is not a printable name of at most {MAX_NAME} characters")
    return list(value)


def _vocab(value: object, name: str) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
        raise _Invalid(f"{name} is not a list of terms")
    return list(value)


def side_width(side: object, image_width: int) -> int:
    """Check the side-feature blocks (the image block reads ``image_width`` features); return
    the width of what they hand the head."""
    side = _dict(side, "side")
    blocks = side.get("blocks")
    if not isinstance(blocks, list | tuple) or not 1 <= len(blocks) <= 3:
        raise _Invalid("side.blocks is not a list of 1..3 blocks")
    total = 0
    for i, block in enumerate(blocks):
        name = f"side.blocks[{i}]"
        block = _dict(block, name)
        kind = _str(_field(block, "kind", name), f"{name}.kind", ("image", "attrs", "text"))
        mean = _array(_field(block, "mean", name), f"{name}.mean", [None])
        _array(_field(block, "scale", name), f"{name}.scale", [len(mean)])
        _float(_field(block, "factor", name), f"{name}.factor")
        if kind == "image" and len(mean) != image_width:
            raise _Invalid(f"{name} reads {len(mean)} features; the backbone gives {image_width}")
        if kind == "attrs":
            columns = _vocab(_field(block, "columns", name), f"{name}.columns")
            if len(columns) != len(mean):
                raise _Invalid(f"{name}.columns names {len(columns)} of {len(mean)} values")
            _dict(block.get("extractors", {}), f"{name}.extractors")
        if kind == "text":
            vocab = _vocab(_field(block, "vocab", name), f"{name}.vocab")
            _array(_field(block, "idf", name), f"{name}.idf", [len(vocab)])
            _array(_field(block, "svd", name), f"{name}.svd", [len(mean), len(vocab)])
        dims = len(mean)
        if "components" in block:
            dims = len(_array(block["components"], f"{name}.components", [None, len(mean)]))
        total += dims
    return total


def check_side(side: object, where: str, image_width: int) -> int:
    try:
        return side_width(side, image_width)
    except _Invalid as exc:
        raise _refuse(where, str(exc)) from None
