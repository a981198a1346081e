"""The contact sheet of ``goodregions deblur``: layout, the command option, and refusals."""

import cv2
import numpy as np
import pytest

from goodregions.runtime.cli import main
from goodregions.runtime.contact_sheet import HEADER_HEIGHT, ContactSheet
from goodregions.runtime.image_io import write_image

FAST = ["--selector", "center", "--kernel-size", "15", "--prior", "l0", "--method", "wiener"]


@pytest.fixture
def inputs(tmp_path):
    """Three blurred noise images of different shapes (landscape, portrait, gray)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    folder.mkdir()
    for name, shape in (("wide.png", (150, 260, 3)), ("tall.jpg", (260, 150, 3)), ("gray.png", (200, 200))):
        image = cv2.GaussianBlur(rng.random(shape), (0, 0), 1.5)
        write_image(folder / name, np.round(image * 255).astype(np.uint8))
    return folder


def test_rows_are_aligned_and_the_window_and_kernel_are_drawn():
    sheet = ContactSheet(row_height=100)
    image = np.full((300, 600, 3), 0.5)
    kernel = np.zeros((9, 9))
    kernel[4, 2:7] = 0.2
    sheet.add(image, (300, 0, 150, 150), kernel, image, label=["a.png"])
    sheet.add(np.zeros((50, 40), np.uint16), (0, 0, 40, 50), kernel, np.zeros((50, 40), np.uint16), label=["b.png"])
    picture = sheet.render()
    assert picture.dtype == np.uint8 and picture.shape[0] == HEADER_HEIGHT + 2 * 100 == sheet.height
    first = picture[HEADER_HEIGHT:HEADER_HEIGHT + 100]
    yellow = (first[..., 0] > 200) & (first[..., 1] > 180) & (first[..., 2] < 60)
    assert yellow.any()  # the window outline
    assert (first == 255).all(axis=2).sum() > (first == 0).all(axis=2).sum()  # white background, kernel mostly black
    with pytest.raises(ValueError, match="row_height"):
        ContactSheet(row_height=10)
    with pytest.raises(ValueError, match="no rows"):
        ContactSheet().render()


def test_the_command_writes_one_row_per_image_and_refuses_to_overwrite(inputs, tmp_path, capsys):
    sheet = tmp_path / "docs" / "sheet.jpg"
    out = tmp_path / "out"
    assert main(["deblur", str(inputs), "-o", str(out), *FAST, "--contact-sheet", str(sheet)]) == 0
    picture = cv2.imread(str(sheet))
    assert picture.shape[0] == HEADER_HEIGHT + 3 * ContactSheet().row_height
    assert "contact sheet of 3 images" in capsys.readouterr().err
    before = sheet.read_bytes()
    assert main(["deblur", str(inputs), "-o", str(tmp_path / "again"), *FAST, "--contact-sheet", str(sheet)]) == 2
    assert "already exists" in capsys.readouterr().err and sheet.read_bytes() == before
    assert not (tmp_path / "again").exists()  # refused before any work
    assert main(["deblur", str(inputs), "-o", str(tmp_path / "again"), *FAST, "--contact-sheet", str(sheet), "--overwrite"]) == 0
    png = tmp_path / "sheet.png"
    assert main(["deblur", str(inputs / "wide.png"), "-o", str(tmp_path / "one.png"), *FAST, "--contact-sheet", str(png)]) == 0
    assert cv2.imread(str(png)).shape[0] == HEADER_HEIGHT + ContactSheet().row_height


def test_bad_sheet_names_are_usage_errors(inputs, tmp_path, capsys):
    assert main(["deblur", str(inputs), "-o", str(tmp_path / "o"), *FAST, "--contact-sheet", str(tmp_path / "s.tif")]) == 2
    assert ".png or .jpg" in capsys.readouterr().err
    clash = tmp_path / "o" / "wide.png"
    assert main(["deblur", str(inputs), "-o", str(tmp_path / "o"), *FAST, "--contact-sheet", str(clash)]) == 2
    assert "also an output" in capsys.readouterr().err
