"""Writes examples/image_search.ipynb (kept as code here so that the notebook's source is reviewable)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    new_markdown_cell(
        "# Image search with pgsimilar\n\n"
        "Pictures go into a PostgreSQL table with a `vector` column; a multimodal embedder puts images and "
        "texts into one space, so a text prompt finds pictures and a picture finds similar pictures. This "
        "notebook uses the offline `minilm-vision` embedder and the demo clip art that ships with "
        "pgsimilar, on the embedded PostgreSQL (nothing to install or download)."
    ),
    new_code_cell(
        "import io\n\n"
        "import matplotlib.pyplot as plt\n"
        "from PIL import Image\n\n"
        "import pgsimilar\n"
        "from pgsimilar.demo import sample_images\n\n"
        "client = pgsimilar.Client()  # the embedded PostgreSQL, or PGSIMILAR_DATABASE_URL\n"
        'pictures = client.create_collection("notebook-pictures", embedder="minilm-vision", exist_ok=True)\n'
        "result = pictures.upsert(sample_images())  # unchanged pictures are not embedded again\n"
        'print(pictures.count(), "pictures;", result)'
    ),
    new_markdown_cell("A helper that draws hits as a grid of thumbnails with their scores:"),
    new_code_cell(
        "def show(results, title):\n"
        "    fig, axes = plt.subplots(1, len(results), figsize=(2.2 * len(results), 2.8), squeeze=False)\n"
        "    for axis, hit in zip(axes[0], results, strict=True):\n"
        "        thumbnail, _ = pictures.get_image(hit.id, thumbnail=True)\n"
        "        axis.imshow(Image.open(io.BytesIO(thumbnail)))\n"
        "        axis.set_title(f\"{hit.metadata['title']}\\n{hit.score:.3f}\", fontsize=9)\n"
        '        axis.axis("off")\n'
        "    fig.suptitle(title)\n"
        "    plt.show()"
    ),
    new_markdown_cell("## Text to image"),
    new_code_cell(
        'results = pictures.search("a musical instrument", k=5)\n'
        'show(results, "a musical instrument")\n'
        "[(hit.metadata['title'], round(hit.score, 3)) for hit in results]"
    ),
    new_markdown_cell(
        "## Image to image\n\nSearch by a picture (here: one of the demo files), or by a stored record."
    ),
    new_code_cell(
        'penguin = next(r for r in sample_images() if "penguin" in r.id)\n'
        "results = pictures.search(image=penguin.image, k=5)\n"
        'show(results, "pictures like the penguin")\n'
        'more = pictures.similar("food/bananas_nicu_buculei_01.png", k=4)\n'
        'show(more, "more like the bananas")'
    ),
    new_markdown_cell(
        "## Filtered search\n\nA metadata filter narrows the candidates; approximate search still returns `k` hits."
    ),
    new_code_cell(
        'results = pictures.search("something to eat", k=4, filter={"category": {"$in": ["food", "kitchen"]}})\n'
        'show(results, "something to eat (food or kitchen)")\n'
        "assert all(hit.metadata['category'] in ('food', 'kitchen') for hit in results)"
    ),
    new_markdown_cell("## Exact or approximate, and the SQL that ran"),
    new_code_cell(
        'exact = pictures.search("a building by the sea", k=3, exact=True, explain=True)\n'
        'approximate = pictures.search("a building by the sea", k=3, explain=True)\n'
        "print(exact.ids, approximate.ids)\n"
        "print(approximate.explain.sql)"
    ),
]


def main() -> None:
    notebook = new_notebook(cells=CELLS)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    target = Path(__file__).with_name("image_search.ipynb")
    nbformat.write(notebook, target)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
