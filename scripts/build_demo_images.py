"""Rebuild src/pgsimilar/demo/images/ from Debian's openclipart-png (public-domain clip art).

Run after `apt-get install openclipart-png`. Each picture is trimmed to its drawing, reduced to at most
320 pixels a side and saved as PNG; metadata.json holds title, category, source file and (where the
openclipart file name gives it) the artist.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

SOURCE = Path("/usr/share/openclipart/png")
TARGET = Path(__file__).resolve().parents[1] / "src" / "pgsimilar" / "demo" / "images"
MAX_SIDE = 320

# source file, title, category, artist (as the openclipart file name spells it; None if it does not)
PICTURES: list[tuple[str, str, str, str | None]] = [
    ("animals/emperor_penguin_ralf_ste_01.png", "Emperor penguin", "animals", None),
    ("animals/bison_leif_lodahl_01.png", "Bison", "animals", "Leif Lodahl"),
    ("animals/bugs/butterfly_jonvdveen_01.png", "Purple butterfly", "animals", None),
    ("animals/orca_matthew_gates_r.png", "Orca", "animals", "Matthew Gates"),
    ("animals/lizard_guillaume_boitel_.png", "Lizard", "animals", "Guillaume Boitel"),
    ("food/crawfish2_ganson.png", "Crawfish", "animals", "Ganson"),
    ("food/fruit/bananas_nicu_buculei_01.png", "Bananas", "food", "Nicu Buculei"),
    ("food/pizza_4_stagioni_archite_01.png", "Pizza slice", "food", None),
    ("food/fruit/strawberry_jonathan_diet_01.png", "Strawberry", "food", None),
    ("recreation/party/pink_cake_gabrielle_now_r.png", "Pink cake", "food", None),
    ("food/beverages/teapot_ganson.png", "Teapot", "kitchen", "Ganson"),
    ("food/beverages/teacup_ganson.png", "Teacup", "kitchen", "Ganson"),
    ("transportation/bicycle_philippe_colin_01.png", "Cyclist", "transport", "Philippe Colin"),
    ("shapes/airplane_nicu_buculei_01.png", "Airplane", "transport", "Nicu Buculei"),
    ("transportation/vehicles/the_mad_little_ship_core_01.png", "Ship in a bottle", "transport", None),
    ("recreation/toys/kiddy_train_orlando_kara_.png", "Toy train", "transport", None),
    ("recreation/music/electric_guitar_andrea__01r.png", "Electric guitar", "music", None),
    ("recreation/music/guitar_ganson.png", "Acoustic guitar", "music", "Ganson"),
    ("recreation/music/piano_geraint_luff_01.png", "Piano", "music", "Geraint Luff"),
    ("recreation/music/saxophone_jarno_vasamaa_.png", "Saxophone", "music", "Jarno Vasamaa"),
    ("tools/construction_hammer_jon__01.png", "Hammer", "tools", None),
    ("education/scissors.png", "Scissors", "tools", None),
    ("electronics/camera_michael_tunniclif_01.png", "Camera", "tools", None),
    ("buildings/lighthouse_matthew_gates_.png", "Lighthouse", "buildings", "Matthew Gates"),
    ("buildings/church_building_01_01.png", "Church", "buildings", None),
    ("buildings/homes/house_christoph_brill_01.png", "House", "buildings", "Christoph Brill"),
    ("plants/flowers/pink-rose_tess_brady_01.png", "Pink rose", "plants", "Tess Brady"),
    ("unsorted/van_gogh_s_sun_flower_en_01.png", "Sunflowers after Van Gogh", "plants", None),
    ("recreation/holiday/christmas/christmas_tree_01.png", "Christmas tree", "plants", None),
]


def trimmed(path: Path) -> Image.Image:
    image = Image.open(path).convert("RGBA")
    box = image.getbbox()  # the drawing, without the transparent margin
    if box:
        image = image.crop(box)
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return image


def main() -> None:
    metadata: dict[str, dict[str, str]] = {}
    for source, title, category, artist in PICTURES:
        name = f"{category}/{Path(source).stem.rstrip('_')}.png"
        (TARGET / category).mkdir(parents=True, exist_ok=True)
        trimmed(SOURCE / source).save(TARGET / name, optimize=True)
        metadata[name] = {"title": title, "category": category, "source": f"openclipart-png: {source}"}
        if artist:
            metadata[name]["artist"] = artist
    (TARGET / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    print(f"{len(metadata)} pictures in {TARGET}")


if __name__ == "__main__":
    main()
