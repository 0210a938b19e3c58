"""``pgsimilar add`` of image folders (ids, sidecar metadata, checks) and ``search --image``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pgsimilar import Client
from pgsimilar.demo import _resource

from .cli_helpers import Cli
from .test_cli import as_json

DEMO_IMAGES = _resource("images")
PICKED = [
    "animals/emperor_penguin_ralf_ste_01.png",
    "food/bananas_nicu_buculei_01.png",
    "music/electric_guitar_andrea__01r.png",
]


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pictures"
    for relative in PICKED:
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEMO_IMAGES / relative, folder / relative)
    sidecar = {
        "music/electric_guitar_andrea__01r.png": {"artist": "Andrea"},
        "bananas_nicu_buculei_01.png": {"ripe": "yes"},
    }
    (folder / "metadata.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return folder


def test_add_a_folder_of_images_and_search_by_text_and_image(
    cli: Cli,
    name: str,
    client: Client,
    tmp_path: Path,
) -> None:
    assert cli("collections", "create", name, "--embedder", "minilm-vision").exit_code == 0
    folder = _folder(tmp_path)
    added = cli("add", name, str(folder), "--json")
    assert added.exit_code == 0, added.output
    assert as_json(added) == {"records": 3, "inserted": 3, "updated": 0, "unchanged": 0, "embedded": 3}

    collection = client.get_collection(name)
    guitar = collection.get("music/electric_guitar_andrea__01r.png")
    assert guitar.metadata == {"file_name": "electric_guitar_andrea__01r.png", "artist": "Andrea"}
    assert collection.get("food/bananas_nicu_buculei_01.png").metadata["ripe"] == "yes"
    assert (
        collection.get_image("music/electric_guitar_andrea__01r.png")[0]
        == (DEMO_IMAGES / PICKED[2]).read_bytes()
    )

    by_text = as_json(cli("search", name, "a guitar", "-k", "1", "--json"))
    assert [hit["id"] for hit in by_text] == ["music/electric_guitar_andrea__01r.png"]
    by_image = as_json(cli("search", name, "--image", str(folder / PICKED[0]), "-k", "1", "--json"))
    assert [hit["id"] for hit in by_image] == [PICKED[0]]

    again = cli("add", name, str(folder), "--json")
    assert as_json(again)["embedded"] == 0 and as_json(again)["unchanged"] == 3


def test_a_bad_image_stops_the_add_before_anything_is_written(cli: Cli, name: str, tmp_path: Path) -> None:
    assert cli("collections", "create", name, "--embedder", "minilm-vision").exit_code == 0
    folder = _folder(tmp_path)
    (folder / "zz-broken.png").write_bytes((DEMO_IMAGES / PICKED[0]).read_bytes()[:300])
    (folder / "empty.jpg").write_bytes(b"")
    result = cli("add", name, str(folder))
    assert result.exit_code == 2
    assert "empty.jpg" in result.output and "empty" in result.output
    shown = as_json(cli("collections", "show", name, "--json"))
    assert shown["count"] == 0


def test_images_into_a_text_collection_and_image_queries_on_text(cli: Cli, name: str, tmp_path: Path) -> None:
    assert cli("collections", "create", name).exit_code == 0  # minilm: text only
    folder = _folder(tmp_path)
    result = cli("add", name, str(folder / PICKED[0]))
    assert result.exit_code == 2 and "does not embed images" in result.output
    searched = cli("search", name, "--image", str(folder / PICKED[0]))
    assert searched.exit_code == 2 and "does not embed images" in searched.output
