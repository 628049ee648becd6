"""Parameter types shared by the flows.

Flows take flat, typed parameters so that `prefect deployment run extract/extract --param
videos=DIR` works. Prefect validates them with pydantic before the flow body runs, and the
deployment's parameter schema (from these annotations) lets the server reject a bad type or
range before a run is even created. Paths are made absolute while validating, so every path a
run records (results, artifacts, lineage) is usable from anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from extractors.registry import PRECISIONS
from flows import WORK as WORK  # re-exported: the flows take their defaults from here


def _existing(path: Path) -> Path:
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    return path.resolve()


def _absolute(path: Path) -> Path:
    return path.expanduser().resolve()


ExistingPath = Annotated[Path, AfterValidator(_existing)]
AbsolutePath = Annotated[Path, AfterValidator(_absolute)]
OutPath = Annotated[AbsolutePath, Field(validate_default=True)]  # a default is made absolute too
Device = Annotated[str, Field(pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$")]
ModelSize = Literal["full", "tiny"]
Precision = Literal[PRECISIONS]
VideoEncoderName = Literal["clip", "slowfast", "blip2"]
PositiveInt = Annotated[int, Field(ge=1)]
PositiveFloat = Annotated[float, Field(gt=0)]
