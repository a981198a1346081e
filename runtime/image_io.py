"""Reading and writing images and kernels, with clear errors and no silent overwrites.

Reading policy: files are decoded with OpenCV, keeping their bit depth (uint8 or
uint16; float TIFF/EXR stays float). Colour comes back in RGB order. An alpha channel
is split off and returned separately: it plays no part in estimation and is written
back unchanged by the deblurring pipeline.
"""

import os
from pathlib import Path

import cv2
import numpy as np

__all__ = ["read_image", "read_kernel", "read_kernels", "write_image", "write_kernel", "check_writable"]


_VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def read_image(path):
    """Read an image file.

    Returns
    -------
    image : ndarray, (H, W) or (H, W, 3) RGB, uint8, uint16 or float32
    alpha : ndarray (H, W) or None

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist or is a folder.
    ValueError
        The file is not an image OpenCV can decode (corrupt, truncated or another format).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file {str(path)!r} does not exist (or is not a file)")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = _decode_quietly(data) if data.size else None
    if image is None and path.suffix.lower() == ".npy":
        raise ValueError(
            f"{str(path)!r} is a NumPy array file, and images are read from image files: save the "
            f"array as a 16-bit PNG or float32 TIFF, or pass it to goodregions.kernels_fast.estimate_kernel"
        )
    if image is None and path.suffix.lower() in _VIDEO_SUFFIXES:
        raise ValueError(f"{str(path)!r} is a video, and this reads still images: deblur videos with `goodregions stream`")
    if image is None:
        raise ValueError(
            f"could not decode {str(path)!r} as an image: the file is corrupt, truncated or not an "
            f"image format OpenCV reads (PNG, JPEG, TIFF, BMP, WebP, ...)"
        )
    if image.dtype not in (np.uint8, np.uint16, np.float32):
        raise ValueError(f"{str(path)!r} has pixel type {image.dtype}; expected 8-bit, 16-bit or float32")
    alpha = None
    if image.ndim == 3:
        channels = image.shape[2]
        if channels == 4:
            alpha = image[..., 3].copy()
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
        elif channels == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        elif channels == 1:
            image = image[..., 0]
        else:
            raise ValueError(f"{str(path)!r} has {channels} channels; expected 1, 3 or 4")
    return image, alpha


def _decode_quietly(data):
    """``cv2.imdecode`` with OpenCV's own log silenced for the call.

    Its decoders print their internal complaints about a corrupt file to stderr
    ("IHDR chunk shall be first", ...); the ValueError of ``read_image`` says it once, in
    terms of the file. The previous log level is restored afterwards.
    """
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    finally:
        cv2.utils.logging.setLogLevel(previous)


def check_writable(path, *, overwrite, inputs=()):
    """Raise ValueError if ``path`` is one of ``inputs``, FileExistsError if it exists and ``overwrite`` is false.

    An input is never replaced, even with ``overwrite``: a run that fails halfway would
    otherwise lose the only copy.
    """
    path = Path(path)
    for source in inputs:
        if Path(source).resolve() == path.resolve():
            raise ValueError(f"output {str(path)!r} is the input itself, which is never replaced; choose another name")
    if path.exists() and not overwrite:
        raise FileExistsError(f"output {str(path)!r} already exists; pass --overwrite (overwrite=True) to replace it")


def write_image(path, image, *, alpha=None, overwrite=False):
    """Write an (H, W) or (H, W, 3) RGB image (uint8 or uint16), adding ``alpha`` if given.

    Missing parent folders are created. The file is written to a temporary name and
    renamed, so an interrupted write never leaves a truncated file under the final name.
    """
    path = Path(path)
    check_writable(path, overwrite=overwrite)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if alpha is not None:
            image = np.dstack([image, alpha.astype(image.dtype)])
    ok, encoded = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise ValueError(f"could not encode an image for {str(path)!r}; use a .png, .jpg or .tif name")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    encoded.tofile(str(temporary))
    os.replace(temporary, path)


def write_kernel(path, kernel, *, overwrite=False):
    """Save a kernel: ``.npy`` keeps the float64 values; ``.png`` is an 8-bit picture
    scaled so that the maximum is 255 (for viewing, not for computation). Missing parent
    folders are created."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        check_writable(path, overwrite=overwrite)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.partial.npy")
        np.save(temporary, kernel)
        os.replace(temporary, path)
    elif suffix == ".png":
        picture = np.round(255.0 * kernel / max(float(kernel.max()), 1e-300)).astype(np.uint8)
        write_image(path, picture, overwrite=overwrite)
    else:
        raise ValueError(f"kernel output must end in .npy or .png, got {str(path)!r}")


def read_kernel(path, *, rotate=False, name="kernel file"):
    """Read a blur kernel saved as ``.npy``, check it and normalise it to sum 1.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.npy`` file holding one 2-D array of real, finite, non-negative weights with a
        positive sum.
    rotate : bool
        Rotate by 180 degrees: the file stores the correlation kernel (as Levin et al.'s do),
        and the true-convolution kernel, the package's convention, is its rotation.
    name : str
        How error messages name the file's origin (for example ``"--kernels file"``).

    Returns
    -------
    kernel : ndarray of float64, shape (h, w)
        C-contiguous, sums to 1.

    Raises
    ------
    FileNotFoundError
        ``path`` is not a file.
    ValueError, TypeError
        Not a ``.npy`` array, or not a valid kernel; the message names the file.
    """
    from goodregions.kernels_fast._validate import as_kernel

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{name} {str(path)!r} does not exist (or is not a file)")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"{name} {str(path)!r} is not a .npy array ({error}); save kernels with numpy.save") from error
    try:
        kernel = as_kernel(array, name=f"{name} {str(path)!r}")
    except (TypeError, ValueError) as error:
        raise type(error)(f"{error} (got {array.dtype} {array.shape}); fix or remove the file") from error
    return np.ascontiguousarray(kernel[::-1, ::-1]) if rotate else kernel


def read_kernels(folder, *, rotate=False, name="kernel folder"):
    """Read every ``*.npy`` kernel of a folder, sorted by file name, with :func:`read_kernel`.

    Returns
    -------
    list of (str, ndarray)
        ``(file name, kernel)`` pairs.

    Raises
    ------
    FileNotFoundError
        ``folder`` is not a folder, or holds no ``.npy`` file.
    ValueError, TypeError
        A file is not a valid kernel.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{name} {str(folder)!r} is not a folder; pass the folder of the .npy kernels")
    paths = sorted(path for path in folder.iterdir() if path.suffix == ".npy" and path.is_file())
    if not paths:
        raise FileNotFoundError(f"{name} {str(folder)!r} holds no .npy kernel; save kernels there with numpy.save")
    return [(path.name, read_kernel(path, rotate=rotate, name=f"{name} file")) for path in paths]
