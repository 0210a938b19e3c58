"""examples/image_search.ipynb runs headless, start to finish, on the offline embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgsimilar import Client

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "image_search.ipynb"


def test_the_image_search_notebook_runs(
    client: Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    nbclient = pytest.importorskip("nbclient", reason="nbclient is a development dependency")
    import nbformat

    monkeypatch.setenv("PGSIMILAR_DATA_DIR", str(client.settings.data_dir))
    monkeypatch.delenv("PGSIMILAR_DATABASE_URL", raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    outputs = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
    ]
    assert not [output for output in outputs if output.get("output_type") == "error"]
    figures = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(figures) >= 4  # text-to-image, image-to-image (twice), filtered
    text = "".join(
        str(output.get("data", {}).get("text/plain", "")) + output.get("text", "") for output in outputs
    )
    assert "29 pictures" in text
    client.drop_collection("notebook-pictures", missing_ok=True)
