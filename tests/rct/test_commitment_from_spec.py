"""An outsider's check: the commitment `seal` publishes is rebuilt from docs/randomness.md
alone. The units and design objects below are written out from the document (§2, §4, §5,
§9.1) using only the standard library's tomllib, json and hashlib, never the toolkit's
helpers, so a drift between the document and the code fails here."""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocols import shipped_protocol_path
from rct.allocation import sealing
from rct.workspace import Workspace

PASS = "correct horse battery staple"


def canonical(value: Any) -> bytes:
    """§2: keys sorted by code point, no whitespace, UTF-8 as itself, shortest floats."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def sha(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def spec_objects(protocol_toml: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The units object (§4) and design object (§5, §5.1) of a protocol, from the document."""
    a = protocol_toml["allocation"]
    constrained = a["method"] == "constrained"
    stratify = a.get("stratify", a["method"] == "stratified")
    design = {
        "n_treated": a["arm_sizes"][a.get("intervention_arm", "intervention")],
        "strata": "stratum" if stratify else None,
        "covariates": list(a.get("covariates", [])) if constrained else [],
        "categorical": list(a.get("categorical", [])) if constrained else [],
        "metric": a.get("metric", "l2") if constrained else "l2",
        "weights": {k: float(v) for k, v in a.get("weights", {}).items()} if constrained else {},
        "standardise": True,
        "cutoff_quantile": a.get("cutoff_quantile") if constrained else None,
        "cutoff_schemes": a.get("cutoff_schemes") if constrained else None,
        "max_abs_std_diff": {k: float(v) for k, v in a.get("max_covariate_difference", {}).items()}
        if constrained
        else {},
        "constraints": dict(a.get("covariate_constraints", {})) if constrained else {},
        "max_enumerate": 5000000,
        "sample_size": 50000,
    }
    columns = sorted(design["covariates"] + (["stratum"] if stratify else []))

    def value(unit: dict[str, Any], column: str) -> Any:
        v = unit.get("stratum", "") if column == "stratum" else unit["covariates"][column]
        return float(v) if isinstance(v, (int, float)) else v  # numbers are floats (§4)

    units = {
        "version": "rct-units-v1",
        "columns": columns,
        "units": [
            {"id": u["id"], "values": {c: value(u, c) for c in columns}}
            for u in sorted(protocol_toml["units"], key=lambda u: u["id"])
        ],
    }
    return units, design


def test_commitment_published_by_seal_is_rebuilt_from_the_document_alone(
    workspace_as: Callable[[str], Workspace], tmp_path: Path
) -> None:
    ws = workspace_as("sam")
    published = sealing.seal(ws, PASS, tmp_path / "env.json").commitment
    sealing.reveal(ws, PASS)
    cert = sealing.certificate(ws).to_dict()

    toml = tomllib.loads(shipped_protocol_path().read_text(encoding="utf-8"))
    units, design = spec_objects(toml)
    seed = bytes.fromhex(cert["seed"])
    message = (
        b"rct-commitment-v2"
        + b"\x00"
        + seed
        + cert["protocol_fingerprint"].encode("ascii")
        + sha(units).encode("ascii")
        + sha(design).encode("ascii")
    )
    assert len(message) == 242
    assert hashlib.sha256(message).hexdigest() == published == cert["commitment"]
    # and the certificate carries exactly the documented objects
    assert cert["algorithm"]["commitment"] == "rct-commitment-v2"
    assert cert["units"] == units and cert["units_fingerprint"] == sha(units)
    assert cert["design"] == design and cert["design_fingerprint"] == sha(design)
    # a whole-number covariate is written as a float, as the document says
    assert b'"child_population":43000.0' in canonical(units)
