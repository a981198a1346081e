"""A contact sheet of deblurred images: one row per image, for reading results at a glance.

Each row holds a label (file name, selector, kernel size), the input with the chosen window
outlined, the kernel (enlarged, its peak white) and the output. The input and the output are
scaled to a common panel height; the columns are aligned across rows. The rows are kept as
small thumbnails while the images are processed, so a sheet of many large photos needs little
memory.
"""

from __future__ import annotations

import cv2
import numpy as np

from goodregions.kernels_fast._validate import check_int

__all__ = ["HEADER_HEIGHT", "ContactSheet", "kernel_picture", "to_display"]

HEADER_HEIGHT = 28  # the strip of column titles above the first row
_PAD = 6  # around every panel, so rows and columns stay apart
_LABEL_WIDTH = 230
_MAX_ASPECT = 2.0  # a panel is at most this many times as wide as high (panoramas are scaled to fit)
_BACKGROUND = 255
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WINDOW_COLOUR = (255, 220, 0)  # RGB yellow, drawn over black so it shows on light and dark content


def to_display(image):
    """Any pipeline image -> uint8 RGB for viewing (uint16 / 257; floats clipped to [0, 1] for display only)."""
    if image.dtype == np.uint16:
        image = np.round(image / 257.0).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def kernel_picture(kernel):
    """A kernel as uint8 gray, scaled so that its peak is 255 (for viewing, not for computation)."""
    return np.round(255.0 * kernel / max(float(kernel.max()), 1e-300)).astype(np.uint8)


def _fit(picture, height, max_width):
    """Scale an (H, W, 3) picture to ``height`` rows, or less when it would be wider than ``max_width``."""
    scale = min(height / picture.shape[0], max_width / picture.shape[1])
    size = (max(1, round(picture.shape[1] * scale)), max(1, round(picture.shape[0] * scale)))
    return cv2.resize(picture, size, interpolation=cv2.INTER_AREA), scale


def _put_lines(canvas, lines, left, top, width, *, scale=0.45):
    """Write ``lines`` of text from ``(left, top)``, each shortened with '...' to fit ``width`` pixels."""
    step = int(26 * scale / 0.45)
    for number, text in enumerate(lines):
        while len(text) > 4 and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > width:
            text = text[:-4] + "..."
        baseline = top + (number + 1) * step
        cv2.putText(canvas, text, (left, baseline), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)


class ContactSheet:
    """Rows of (label, input with window, kernel, output), composed into one picture.

    Parameters
    ----------
    row_height : int
        Height in pixels of every row, padding included (the panels are ``row_height - 12``
        high). At least 64.

    Raises
    ------
    ValueError
        ``row_height`` is not an int >= 64.
    """

    def __init__(self, *, row_height=220):
        self.row_height = check_int(row_height, name="row_height", low=64, unit="pixels",
                                    hint="200-240 suits a sheet of many photos")
        self._rows = []

    def __len__(self):
        return len(self._rows)

    @property
    def height(self):
        """Height of the composed sheet: the title strip and one ``row_height`` per row."""
        return HEADER_HEIGHT + len(self._rows) * self.row_height

    def add(self, image, window, kernel, output, *, label):
        """Add one row.

        Parameters
        ----------
        image : ndarray, shape (H, W) or (H, W, 3|4)
            The input (uint8, uint16 or float in [0, 1]); only its first three channels are shown.
        window : tuple of int
            ``(x, y, w, h)`` in ``image`` pixels, outlined in yellow over black.
        kernel : ndarray, shape (k, k)
            Shown white on black, its peak white, magnified with nearest-neighbour sampling.
        output : ndarray, shape (H, W) or (H, W, 3|4)
            The deblurred image, in any of the types of ``image``.
        label : list of str
            Lines of text beside the row (shortened to fit).
        """
        side = self.row_height - 2 * _PAD
        picture, scale = _fit(to_display(image), side, _MAX_ASPECT * side)
        x, y, w, h = (round(v * scale) for v in window)
        corners = (x, y), (x + max(w, 2) - 1, y + max(h, 2) - 1)
        cv2.rectangle(picture, *corners, (0, 0, 0), 4)
        cv2.rectangle(picture, *corners, _WINDOW_COLOUR, 2)
        enlarged = cv2.resize(kernel_picture(kernel), (side, side), interpolation=cv2.INTER_NEAREST)
        self._rows.append((list(label), picture, np.repeat(enlarged[..., None], 3, axis=2),
                           _fit(to_display(output), side, _MAX_ASPECT * side)[0]))

    def render(self):
        """Compose the sheet.

        Returns
        -------
        ndarray of uint8, shape (height, W, 3), RGB
            White background; each panel centred in its column.

        Raises
        ------
        ValueError
            No row was added.
        """
        if not self._rows:
            raise ValueError("the contact sheet has no rows: add() at least one image before render()")
        widths = [_LABEL_WIDTH] + [max(row[column].shape[1] for row in self._rows) + 2 * _PAD for column in (1, 2, 3)]
        lefts = np.concatenate([[0], np.cumsum(widths)])
        sheet = np.full((self.height, int(lefts[-1]), 3), _BACKGROUND, np.uint8)
        titles = ("input, window in yellow", "kernel (peak white)", "output")
        for column, title in enumerate(titles, start=1):
            text_width = min(cv2.getTextSize(title, _FONT, 0.5, 1)[0][0], widths[column] - 2 * _PAD)
            _put_lines(sheet, [title], int(lefts[column]) + (widths[column] - text_width) // 2, 0, text_width, scale=0.5)
        for number, (label, *panels) in enumerate(self._rows):
            top = HEADER_HEIGHT + number * self.row_height
            _put_lines(sheet, label, _PAD, top + _PAD, _LABEL_WIDTH - 2 * _PAD)
            for column, panel in enumerate(panels, start=1):
                height, width = panel.shape[:2]
                left = int(lefts[column]) + (widths[column] - width) // 2
                row_top = top + (self.row_height - height) // 2
                sheet[row_top:row_top + height, left:left + width] = panel
            sheet[top, :] = 200  # a light rule between rows
        return sheet
