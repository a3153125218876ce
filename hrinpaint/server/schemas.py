"""Request schemas built from the methods' typed configs, and the catalogue that ``GET /api/methods`` returns.

Each filler and lifter has a frozen dataclass ``Config``; its fields become a pydantic model (``extra`` forbidden),
so the API validates exactly what the method accepts and the OpenAPI document and the page's option form follow
the code. Fields the server must control are left out: file paths (``weights``: no client-supplied paths) and
resource knobs (``threads``, ``chunk_size``, and ``device`` and ``half``, set by ``hrinpaint serve --device``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from hrinpaint.bounds import Bounds, bounds_for
from hrinpaint.errors import InpaintError

#: Config fields a client may not set: a path to a file on the server, and knobs that size CPU or memory use.
SERVER_ONLY_FIELDS = frozenset({"weights", "threads", "chunk_size", "device", "half"})

#: Longest ``options`` form field accepted (a real one is a few hundred bytes).
MAX_OPTIONS_CHARS = 16_384

_ATTRIBUTE_LINE = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*):\s*(.*)$")


class OptionsError(InpaintError):
    """Options that do not fit the chosen method's config; the message names the option."""


def field_docs(config_class: type) -> dict[str, str]:
    """Reads the one-paragraph description of each field from a Google-style ``Attributes:`` docstring section."""
    doc = config_class.__doc__ or ""
    docs: dict[str, str] = {}
    _, found, section = doc.partition("Attributes:")
    if not found:
        return docs
    names = {item.name for item in dataclasses.fields(config_class)}
    current: str | None = None
    indent = -1
    for line in section.splitlines():
        match = _ATTRIBUTE_LINE.match(line)
        if match and match.group(2) in names and (current is None or len(match.group(1)) <= indent):
            current, indent = match.group(2), len(match.group(1))
            docs[current] = match.group(3).strip()
        elif current is not None and line.strip():
            docs[current] = f"{docs[current]} {line.strip()}"
        elif current is not None and not line.strip() and docs[current]:
            current = None  # a blank line ends the section
    return docs


def config_model(
    config_class: type,
    model_name: str,
    exclude: frozenset[str] = SERVER_ONLY_FIELDS,
    bounds: dict[str, Bounds] | None = None,
    base: type[BaseModel] | None = None,
) -> type[BaseModel]:
    """A pydantic model with the dataclass's fields (types, defaults, docs), minus ``exclude``; extra keys forbidden.

    ``bounds`` (``{"field": (lowest, highest)}``, from :mod:`hrinpaint.bounds`) become ``minimum`` and ``maximum``;
    ``base`` is a model to extend (it must forbid extra keys itself).
    """
    hints = typing.get_type_hints(config_class)
    docs = field_docs(config_class)
    fields: dict[str, Any] = {}
    for item in dataclasses.fields(config_class):
        if item.name in exclude or not item.init:
            continue
        if item.default is not dataclasses.MISSING:
            default = item.default
        elif item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        else:
            default = ...
        constraints = {}
        if item.name in (bounds or {}):
            constraints = dict(zip(("ge", "le"), (bounds or {})[item.name], strict=True))
        fields[item.name] = (hints[item.name], Field(default, description=docs.get(item.name), **constraints))
    if base is not None:
        return create_model(model_name, __base__=base, __doc__=base.__doc__, **fields)
    return create_model(model_name, __config__=ConfigDict(extra="forbid"), __doc__=config_class.__doc__, **fields)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part)


@dataclass
class PartInfo:
    """One filler or lifter as the server sees it.

    Attributes:
        kind: ``"filler"`` or ``"lifter"``.
        name: the registry name.
        help: the registry's one-line description.
        model: the pydantic model of its options, or None when its module failed to import.
        config_class: the dataclass the model was built from, whose own checks run last.
        weights: manifests of the shipped weights for it (``manifest["model"] == name``).
        available: False when it cannot run as shipped (its module fails to import, or it needs weights and
            none ship); it is still listed, and a run says why it failed.
        reason: why it is not available.
    """

    kind: str
    name: str
    help: str
    model: type[BaseModel] | None
    config_class: type | None = None
    weights: list[dict[str, Any]] = field(default_factory=list)
    available: bool = True
    reason: str | None = None

    def validate(self, options: dict[str, Any]) -> dict[str, Any]:
        """Checks ``options`` against the model and the dataclass's own checks; returns the keyword config."""
        if self.model is None or self.config_class is None:
            raise OptionsError(f"{self.kind} {self.name!r} cannot be loaded: {self.reason}")
        try:
            config = self.model.model_validate(options).model_dump(exclude_unset=True)
        except ValidationError as error:
            raise OptionsError(f"{self.kind} {self.name!r}: {describe_validation_error(error)}") from None
        try:
            self.config_class(**config)  # the config's own range checks, with its own messages
        except (ValueError, TypeError) as error:
            raise OptionsError(f"{self.kind} {self.name!r}: {error}") from None
        return config


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, ``option: message``, joined with ``; ``."""
    parts = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "options"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "not an option of this method (or set by the server)"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def shipped_manifests() -> list[dict[str, Any]]:
    """Manifests of the weights in ``hrinpaint/weights`` (with the file name added); unreadable ones are skipped."""
    folder = resources.files("hrinpaint") / "weights"
    manifests = []
    try:
        entries = sorted(folder.iterdir(), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        if not entry.name.endswith(".json"):
            continue
        weights_name = entry.name[: -len(".json")] + ".safetensors"
        if not (folder / weights_name).is_file():
            continue
        try:
            manifest = json.loads(entry.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and "model" in manifest:
            manifests.append({"file": weights_name, **manifest})
    return manifests


def _weights_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the page and API show of a manifest: no absolute paths, no resolved training config."""
    training = manifest.get("training", {}) if isinstance(manifest.get("training"), dict) else {}
    return {
        "file": manifest["file"],
        "model": manifest["model"],
        "parameters": manifest.get("parameters"),
        "sha256": manifest.get("sha256"),
        "training": {key: training[key] for key in ("resolution", "steps", "batch_size", "seconds") if key in training},
        "validation": manifest.get("validation", {}),
    }


def _weights_status(
    name: str, config_class: type, manifests: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], bool, str | None]:
    """``(weights, available, reason)``: a part whose config takes ``weights`` needs some to ship for it."""
    weights = [_weights_summary(manifest) for manifest in manifests if manifest["model"] == name]
    needs_weights = any(item.name == "weights" for item in dataclasses.fields(config_class))
    if needs_weights and not weights:
        return weights, False, f"no weights for {name!r} ship in hrinpaint/weights yet (train and export them)"
    return weights, True, None


def part_info(registry: Any, kind: str, name: str, manifests: list[dict[str, Any]]) -> PartInfo:
    """Describes one registry entry; an entry whose module fails to import is listed as unavailable."""
    help_text = registry.help(name)
    try:
        config_class = registry.get(name).Config
        bounds = bounds_for(kind, name, config_class)
        model = config_model(config_class, f"{_camel(name)}{kind.capitalize()}Options", bounds=bounds)
    except Exception as error:  # a method being written may not import yet; list it, do not break the server
        return PartInfo(kind, name, help_text, None, available=False, reason=f"{type(error).__name__}: {error}")
    weights, available, reason = _weights_status(name, config_class, manifests)
    return PartInfo(kind, name, help_text, model, config_class, weights, available, reason)


@dataclass
class Catalogue:
    """Every filler and lifter with its options model, the pipeline's options model, and the default method."""

    fillers: dict[str, PartInfo]
    lifters: dict[str, PartInfo]
    options_model: type[RequestOptions]
    pipeline_fields: tuple[str, ...]
    default_method: str
    methods: list[str]
    weights: list[dict[str, Any]]
    #: ``(filler, lifter) -> why they cannot work together`` (``telea+refine``: refine needs a network)
    incompatible: dict[tuple[str, str], str] = field(default_factory=dict)

    def models(self) -> list[type[BaseModel]]:
        parts = [*self.fillers.values(), *self.lifters.values()]
        return [self.options_model, *(part.model for part in parts if part.model is not None)]

    def refresh_weights(self, manifests: list[dict[str, Any]]) -> None:
        """Re-reads which weights ship (they may be added while the server runs)."""
        self.weights = [_weights_summary(manifest) for manifest in manifests]
        for part in (*self.fillers.values(), *self.lifters.values()):
            if part.config_class is not None:
                part.weights, part.available, part.reason = _weights_status(part.name, part.config_class, manifests)

    def pipeline_options(self, options: RequestOptions) -> dict[str, Any]:
        """The pipeline's keyword options that the request set."""
        return {name: getattr(options, name) for name in self.pipeline_fields if name in options.model_fields_set}


def build_catalogue() -> Catalogue:
    """Imports every registered filler and lifter (once, at server start) and builds their option models."""
    from hrinpaint.fillers import FILLERS
    from hrinpaint.lifters import LIFTERS
    from hrinpaint.methods import DEFAULT_METHOD, available_methods
    from hrinpaint.pipeline import PipelineOptions

    manifests = shipped_manifests()
    fillers = {name: part_info(FILLERS, "filler", name, manifests) for name in FILLERS}
    lifters = {name: part_info(LIFTERS, "lifter", name, manifests) for name in LIFTERS}
    # the options form field: the pipeline's own config (the server keeps max_pixels) plus the request's options
    server_only = frozenset({"max_pixels"})
    options_model = config_model(
        PipelineOptions, "InpaintOptions", exclude=server_only, bounds=bounds_for("pipeline"), base=RequestOptions
    )
    pipeline_fields = tuple(item.name for item in dataclasses.fields(PipelineOptions) if item.name not in server_only)
    weights = [_weights_summary(manifest) for manifest in manifests]
    incompatible = _incompatible_pairs(FILLERS, LIFTERS, fillers, lifters)
    return Catalogue(
        fillers, lifters, options_model, pipeline_fields, DEFAULT_METHOD, available_methods(), weights, incompatible
    )


def _incompatible_pairs(
    filler_registry: Any, lifter_registry: Any, fillers: dict[str, PartInfo], lifters: dict[str, PartInfo]
) -> dict[tuple[str, str], str]:
    """Asks each lifter that declares ``check_filler`` about each available filler, built with its defaults - on
    the CPU where it has a ``device`` option: the check reads what the filler is (its network's class), not where
    it runs, so start-up puts no network on a GPU that ``serve --device`` may not even use."""
    checks = {}
    for name, part in lifters.items():
        if part.available:
            check = getattr(lifter_registry.get(name), "check_filler", None)
            if check is not None:
                checks[name] = check
    found: dict[tuple[str, str], str] = {}
    if not checks:
        return found
    for filler_name, part in fillers.items():
        if not part.available:
            continue
        try:
            config_class = getattr(filler_registry.get(filler_name), "Config", None)
            on_cpu = dataclasses.is_dataclass(config_class) and any(
                item.name == "device" for item in dataclasses.fields(config_class)
            )
            filler = filler_registry.build(filler_name, **({"device": "cpu"} if on_cpu else {}))
        except Exception as error:  # listed as unavailable for every such lifter, with the reason
            filler, problem = None, " ".join(str(error).split())
        for lifter_name, check in checks.items():
            try:
                if filler is None:
                    raise InpaintError(problem)
                check(filler)
            except Exception as error:
                found[(filler_name, lifter_name)] = " ".join(str(error).split())
    return found


class RequestOptions(BaseModel):
    """Options of a request that are not the pipeline's: how to read the mask, how to write the result, and the
    options of the method's filler and lifter (each validated against that part's own model)."""

    model_config = ConfigDict(extra="forbid")

    invert_mask: bool = Field(False, description="the mask is zero (black) where the hole is")
    mask_threshold: float = Field(
        0.0,
        ge=bounds_for("output")["mask_threshold"][0],
        le=bounds_for("output")["mask_threshold"][1],
        description="hole where the mask is above this fraction of white (0: any non-zero)",
    )
    quality: int = Field(
        95,
        ge=bounds_for("output")["quality"][0],
        le=bounds_for("output")["quality"][1],
        description="JPEG/WebP quality of the result",
    )
    filler: dict[str, Any] = Field(
        default_factory=dict, description="options of the method's filler, e.g. TeleaFillerOptions"
    )
    lifter: dict[str, Any] = Field(
        default_factory=dict, description="options of the method's lifter, e.g. CraLifterOptions"
    )


def parse_options(text: str | None, options_model: type[RequestOptions]) -> RequestOptions:
    """Parses the ``options`` form field (a JSON object) with ``options_model``; raises :class:`OptionsError`."""
    if text is None or not text.strip():
        text = "{}"
    if len(text) > MAX_OPTIONS_CHARS:
        raise OptionsError(f"options are {len(text):,} characters, over the limit of {MAX_OPTIONS_CHARS:,}")
    try:
        raw = json.loads(text)
    except RecursionError:  # JSON nested thousands deep
        raise OptionsError("options are nested too deeply") from None
    except ValueError as error:
        raise OptionsError(f"options must be a JSON object: {error}") from None
    if not isinstance(raw, dict):
        raise OptionsError(f"options must be a JSON object, got {type(raw).__name__}")
    try:
        return options_model.model_validate(raw)
    except ValidationError as error:
        raise OptionsError(f"options: {describe_validation_error(error)}") from None
