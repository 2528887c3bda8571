"""Tests of the Modal app definition and the code its containers run, with no Modal account.

The image and function checks read objects the modal SDK builds without a
network call. Three of them look at modal 1.6 internals (the image's layer
loaders and the function's autoscaler settings) because the SDK offers no
public view of pip commands, mounted files or max_containers before deploy.
"""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
from modal._utils.async_utils import synchronizer
from modal.mount import _Mount, _select_files
from polars.testing import assert_frame_equal

import claidex_assets
from claidex_assets import modal_app
from claidex_assets.errors import ConfigurationError
from claidex_assets.modal_app import (
    BULK_FILE,
    PINNED_PACKAGES,
    PROVIDERS_FILE,
    ModalSettings,
    compute_partition_from_volume,
    frame_from_ipc,
    load_bulk_inputs,
)
from claidex_assets.npi import make_npi, partition_keys
from claidex_assets.ownership.bulk import prepare_bulk
from claidex_assets.ownership.schema import OWNERSHIP_FEATURES, SNAPSHOT_SCHEMAS, GraphSnapshot
from claidex_assets.resources.compute import LocalProcessBackend

PACKAGE_DIR = Path(claidex_assets.__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DRIVER_MODULES = ("dagster", "psycopg", "neo4j", "sqlalchemy")

# Four partitions: three over the 1-prefixed NPIs and one for the 2-prefixed block.
KEYS = partition_keys(4)
NPI_A = make_npi(100000001)  # 1000000012, first partition
NPI_B = make_npi(110000000)  # 1100000003, first partition
NPI_C = make_npi(150000000)  # 1500000009, second partition
NPI_D = make_npi(180000000)  # 1800000006, third partition; the fourth partition has no provider


def sample_snapshot() -> GraphSnapshot:
    """A holding E0 OWNS the SNF E1, which OWNS the LLC E2; E0 and provider B are excluded."""
    frames = {
        "providers": [
            (NPI_A, "Sunrise Care Center"),
            (NPI_B, "Bob Baker"),
            (NPI_C, "Carol Sunrise"),
            (NPI_D, "Dana Doe"),
        ],
        "entities": [
            ("E0", "Sunrise Holdings", "HOLDING", None),
            ("E1", "Sunrise Care Center", "SNF", NPI_A),
            ("E2", "Baker Therapy LLC", "LLC", NPI_B),
        ],
        "exclusions": [("X1", False), ("X2", None)],
        "provider_exclusions": [(NPI_B, "X1")],
        "entity_exclusions": [("E0", "X2")],
        "owns": [("E0", "E1"), ("E1", "E2")],
    }
    return GraphSnapshot(
        **{
            name: pl.DataFrame(rows, schema=SNAPSHOT_SCHEMAS[name], orient="row")
            for name, rows in frames.items()
        }
    )


def sample_providers() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "npi": [NPI_A, NPI_B, NPI_C, NPI_D],
            "display_name": ["Sunrise Care Center", "Bob Baker", "sunrise care", "Dana Doe"],
        }
    )


def write_bulk_folder(folder: Path) -> Path:
    """Write the sample bulk inputs the way the backend uploads them; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BULK_FILE).write_bytes(prepare_bulk(sample_snapshot()).to_bytes())
    sample_providers().write_parquet(folder / PROVIDERS_FILE)
    return folder


def image_layers(image) -> tuple[list[str], list[str]]:
    """Return the pip commands and the container paths of the files an image carries (modal 1.6 internals)."""
    commands: list[str] = []
    files: list[str] = []
    pending = [synchronizer._translate_in(image)]
    while pending:
        layer = pending.pop()
        if isinstance(layer, _Mount):
            files.extend(str(remote) for _, remote in _select_files(layer.entries))
            continue
        closure = inspect.getclosurevars(layer._load).nonlocals
        dockerfile_function = closure.get("dockerfile_function")
        if dockerfile_function is not None:
            commands.extend(dockerfile_function("2025.06").commands)
        pending.extend(layer._deps())
    return commands, sorted(files)


def test_image_pins_installed_versions():
    commands, _ = image_layers(modal_app.build_image())
    pip_commands = [command for command in commands if "pip install" in command]
    for requirement in PINNED_PACKAGES:
        name, version = requirement.split("==")
        assert version == importlib.metadata.version(name), f"{name} pinned at {version}"
        assert any(requirement in command for command in pip_commands), requirement


def test_image_carries_only_pure_source():
    _, files = image_layers(modal_app.build_image())
    ownership_files = sorted(path.name for path in (PACKAGE_DIR / "ownership").glob("*.py"))
    expected = sorted(
        [f"/root/claidex_assets/{name}" for name in ("__init__.py", "errors.py", "modal_app.py", "npi.py")]
        + [f"/root/claidex_assets/ownership/{name}" for name in ownership_files]
    )
    assert files == expected
    assert "/root/claidex_assets/ownership/tasks.py" in files
    assert "/root/claidex_assets/ownership/chain.py" in files


def imported_modules(path: Path) -> set[str]:
    """Return the absolute module names a source file imports anywhere in its body."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_image_source_imports_resolve_in_image():
    _, files = image_layers(modal_app.build_image())
    carried = {
        remote.removeprefix("/root/").removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for remote in files
    }
    # The container has the standard library, the pinned packages, modal
    # itself and the carried claidex_assets modules, nothing else.
    installed = {"ahocorasick", "modal", "numpy", "polars", "pyarrow"}
    for remote in files:
        for module in imported_modules(REPO_ROOT / remote.removeprefix("/root/")):
            top = module.split(".")[0]
            assert top not in DRIVER_MODULES, f"{remote} imports {module}"
            if top == "claidex_assets":
                assert module in carried, f"{remote} imports {module}, which the image does not carry"
            else:
                assert top in sys.stdlib_module_names or top in installed, f"{remote} imports {module}"


def test_function_adds_no_package_source():
    # include_source=False: the function adds no local mount of its own (only
    # Modal's client mount, stored remotely), so the whole claidex_assets
    # package, Dagster code included, stays out; the image adds the pure files.
    spec = synchronizer._translate_in(modal_app.ownership_partition)._spec
    assert spec.mounts
    assert [mount for mount in spec.mounts if mount.is_local()] == []


def test_settings_defaults():
    settings = ModalSettings.from_env({})
    assert settings == ModalSettings()
    assert settings.function_options() == {
        "max_containers": 32,
        "timeout": 600,
        "retries": 2,
        "memory": 2048,
        "cpu": 1.0,
    }
    assert settings.volume_name == "claidex-ownership-bulk"


def test_function_limits_match_settings():
    info = modal_app.ownership_partition.info()
    settings = modal_app.SETTINGS
    assert info.timeout == settings.timeout_s
    assert info.max_retries == settings.retries
    assert info.memory_mib == settings.memory_mib
    assert info.cpu == settings.cpu
    assert list(info.volumes) == ["/bulk"]
    assert info.volumes["/bulk"].name == settings.volume_name


def test_function_limits_read_from_environment():
    script = textwrap.dedent(
        """
        import inspect, json
        from modal._utils.async_utils import synchronizer
        from claidex_assets import modal_app
        info = modal_app.ownership_partition.info()
        raw = synchronizer._translate_in(modal_app.ownership_partition)
        autoscaler = inspect.getclosurevars(raw._load).nonlocals["autoscaler_settings"]
        print(json.dumps({
            "max_containers": autoscaler.max_containers, "timeout": info.timeout,
            "retries": info.max_retries, "memory": info.memory_mib, "cpu": info.cpu,
            "regions": info.regions, "volume": info.volumes["/bulk"].name,
        }))
        """
    )
    env = {
        **os.environ,
        "CLAIDEX_MODAL_MAX_CONTAINERS": "7",
        "CLAIDEX_MODAL_TIMEOUT": "120",
        "CLAIDEX_MODAL_RETRIES": "0",
        "CLAIDEX_MODAL_MEMORY_MIB": "512",
        "CLAIDEX_MODAL_CPU": "0.5",
        "CLAIDEX_MODAL_REGION": "us-east",
        "CLAIDEX_MODAL_VOLUME": "claidex-test-bulk",
    }
    output = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    limits = json.loads(output.strip().splitlines()[-1])
    assert limits == {
        "max_containers": 7,
        "timeout": 120,
        "retries": 0,
        "memory": 512,
        "cpu": 0.5,
        "regions": ["us-east"],
        "volume": "claidex-test-bulk",
    }


@pytest.mark.parametrize(
    ("variable", "text", "reason"),
    [
        ("CLAIDEX_MODAL_CPU", "many", "not a valid float"),
        ("CLAIDEX_MODAL_MAX_CONTAINERS", "0", "below the minimum 1"),
        ("CLAIDEX_MODAL_RETRIES", "-1", "below the minimum 0"),
        ("CLAIDEX_MODAL_TIMEOUT", "1.5", "not a valid int"),
    ],
)
def test_settings_reject_invalid_value(variable, text, reason):
    with pytest.raises(ConfigurationError, match=variable) as raised:
        ModalSettings.from_env({variable: text})
    assert reason in str(raised.value)


def test_settings_region_only_when_set():
    assert "region" not in ModalSettings.from_env({"CLAIDEX_MODAL_REGION": "  "}).function_options()
    assert ModalSettings.from_env({"CLAIDEX_MODAL_REGION": "eu-west"}).function_options()["region"] == "eu-west"


def test_container_path_imports_no_dagster(tmp_path):
    bulk_dir = write_bulk_folder(tmp_path / "bulk")
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from claidex_assets import modal_app
        key, data, seconds = modal_app.compute_partition_from_volume({KEYS[0]!r}, Path({str(bulk_dir)!r}))
        assert modal_app.frame_from_ipc(data).height == 2
        loaded = sorted(name for name in sys.modules if name.split(".")[0] in {DRIVER_MODULES!r})
        assert not loaded, loaded
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, check=True)


def test_hand_made_snapshot_features(tmp_path):
    bulk_dir = write_bulk_folder(tmp_path / "bulk")
    key, data, _ = compute_partition_from_volume(KEYS[0], bulk_dir)
    assert key == KEYS[0]
    features = frame_from_ipc(data)
    # A's NPI is E1's npi, so E1 is A's facility. E1's chain is E1, its owner
    # E0, and E2 below E1: providers A (E1's npi) and B (E2's npi) make 2.
    # B has the active exclusion X1 and E2 is one OWNS edge from E1, so the
    # weight is 1.0. E0 owns E1 directly and X2 (reinstated null) is active.
    # B matches no SNF: no SNF name contains "bob baker".
    expected = pl.DataFrame(
        {
            "npi": [NPI_A, NPI_B],
            "facility_id": ["E1", None],
            "chain_provider_count": [2, 0],
            "chain_excluded_count": [1, 0],
            "chain_excluded_weight": [1.0, 0.0],
            "owner_excluded": [True, False],
        },
        schema=OWNERSHIP_FEATURES,
    )
    assert_frame_equal(features, expected)


def test_name_matched_provider_features(tmp_path):
    bulk_dir = write_bulk_folder(tmp_path / "bulk")
    features = frame_from_ipc(compute_partition_from_volume(KEYS[1], bulk_dir)[1])
    # "sunrise care" is contained in E1's name "sunrise care center", so C
    # gets E1 as facility and the same chain features as A.
    assert features.rows() == [(NPI_C, "E1", 2, 1, 1.0, True)]


def test_empty_partition_typed_empty_frame(tmp_path):
    bulk_dir = write_bulk_folder(tmp_path / "bulk")
    key, data, _ = compute_partition_from_volume(KEYS[-1], bulk_dir)
    features = frame_from_ipc(data)
    assert key == KEYS[-1]
    assert features.height == 0
    assert features.schema == pl.Schema(OWNERSHIP_FEATURES)


def test_bulk_inputs_loaded_once_per_folder(tmp_path):
    first_dir = write_bulk_folder(tmp_path / "run-1")
    second_dir = write_bulk_folder(tmp_path / "run-2")
    first, _ = load_bulk_inputs(first_dir)
    again, seconds = load_bulk_inputs(first_dir)
    assert again is first
    assert seconds == 0.0
    other, _ = load_bulk_inputs(second_dir)
    assert other is not first


def test_missing_bulk_folder_names_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=BULK_FILE) as raised:
        compute_partition_from_volume(KEYS[0], tmp_path / "never-uploaded")
    assert "never-uploaded" in str(raised.value)


def test_function_local_matches_local_backend(tmp_path):
    bulk_dir = write_bulk_folder(tmp_path / "bulk")
    local = LocalProcessBackend(max_workers=1).compute_partitions(
        bulk_dir / BULK_FILE, bulk_dir / PROVIDERS_FILE, KEYS
    )
    expected = {outcome.partition_key: outcome.features for outcome in local}
    assert sorted(expected) == KEYS

    for key in KEYS:
        with pytest.warns(UserWarning, match="will not have access to the mounted Volume"):
            returned_key, data, seconds = modal_app.ownership_partition.local(key, str(bulk_dir))
        assert returned_key == key
        assert seconds >= 0.0
        assert_frame_equal(frame_from_ipc(data), expected[key])
