"""`Frame`: one loaded frame, its header and image, with cached statistics and binned images.

Its own module so that `render` (which loads and renders frames) and `cutout` (which makes
frames of a square of one) both build on it without importing each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .avm import KEYWORDS as WCS_KEYWORDS
from .binning import SAMPLE_COUNT
from .cards import CardHeader, astropy_header, card_value
from .mosaic import Layout
from .orientation import KEYWORDS as ORIENTATION_KEYWORDS
from .scaling import finite_sorted
from .streaming import StreamedLayout

if TYPE_CHECKING:
    from astropy.io import fits


class Frame:
    """A decoded frame: its header and image, with cached statistics and binned versions.

    Attributes
    ----------
    header : astropy.io.fits.Header
        The image HDU's header merged over the primary header (image cards win). Built (and
        astropy imported) on first access: rendering a single frame does not need it.
    shape : tuple of int
        ``(rows, cols)`` of the whole image (the detector, for amplifier mosaics).
    sky_cards : dict
        The cards that orient the frame (`orientation.KEYWORDS`; None where missing), read
        from `wcs_header` if given (a raw mosaic: the primary header, whose WCS describes the
        whole detector), else from `header`.
    wcs_header : astropy.io.fits.Header, CardHeader or None
        That header itself (None: `header` holds the WCS), for `fits_output`.
    wcs_cards : dict
        The cards of the frame's celestial WCS (`avm.KEYWORDS`), read as `sky_cards` are.
    cutout : cutout.CutoutGeometry or None
        For a frame of a cutout (`cutout.load_cutout`): where it was cut and which part of
        it holds data (the rest is padding); None for a whole frame.
    """

    def __init__(
        self,
        header: fits.Header | CardHeader,
        layout: Layout | StreamedLayout,
        *,
        wcs_header: fits.Header | CardHeader | None = None,
    ) -> None:
        self._header = header
        self.wcs_header = wcs_header
        source = header if wcs_header is None else wcs_header
        # Read now, without astropy (a CardHeader stays one), and safely: a malformed card
        # counts as missing.
        self.sky_cards = {key: card_value(source, key) for key in ORIENTATION_KEYWORDS}
        # The same for the image's WCS (`avm.frame_wcs`): a few cards, read once.
        self.wcs_cards = {key: card_value(source, key) for key in WCS_KEYWORDS}
        self.layout = layout
        self.shape: tuple[int, int] = layout.shape
        self._samples: np.ndarray | None = None
        self._binned: dict[tuple, tuple[np.ndarray, int]] = {}
        self._data: np.ndarray | None = None
        self.cutout = None

    def __repr__(self) -> str:
        amps = len(self.layout.boxes)
        return f"Frame(shape={self.shape}, amplifiers={amps})"

    @property
    def header(self) -> fits.Header:
        self._header = astropy_header(self._header)
        return self._header

    @property
    def data(self) -> np.ndarray:
        """The 2-D image: amplifiers trimmed, bias-subtracted and placed; row 0 = FITS row 1.

        Built on first access for mosaics (rendering never needs it); for ordinary images
        it is the decoded array itself.
        """
        if self._data is None:
            self._data = self.layout.assemble()
        return self._data

    @property
    def samples(self) -> np.ndarray:
        """Sorted finite pixel values sampled on a fixed grid (about 2000 of them)."""
        if self._samples is None:
            self._samples = finite_sorted(self.layout.samples(SAMPLE_COUNT))
            self._samples.setflags(write=False)
        return self._samples

    def expect(self, factor: int) -> None:
        """Say that `binned` will be asked for `factor`: a streamed frame then bins at it
        in the same pass as the others (see `prepare`). Nothing for a decoded frame."""
        if isinstance(self.layout, StreamedLayout):
            self.layout.expect(self.layout.tiling_factor(factor))

    def decode(self) -> None:
        """Decode a streamed frame now, for the factors expected (the statistics always).

        Raises
        ------
        UnreadableFrame
            A corrupt tile (a decoded frame raised this from `load_frame`).
        """
        if isinstance(self.layout, StreamedLayout):
            self.layout.decode(SAMPLE_COUNT)

    def binned(
        self, factor: int, clip: tuple[float, float] | None = None
    ) -> tuple[np.ndarray, int]:
        """The image block-averaged by about `factor` (read-only, cached).

        Parameters
        ----------
        factor : int
            The bin factor wanted.
        clip : (low, high), optional
            Display limits that hot and dead columns are clipped to while binning (see
            `binning.block_mean`); each distinct value is its own cache entry.

        Returns
        -------
        image : ndarray
            float32, NaN where there is no data.
        factor : int
            The factor actually used: for mosaics, the nearest one at or below `factor` (down
            to half) that tiles every amplifier exactly.
        """
        key = (factor, clip)
        if key not in self._binned:
            used = self.layout.tiling_factor(factor)
            image = self.layout.binned(used, clip)
            image.setflags(write=False)
            self._binned[key] = (image, used)
        return self._binned[key]
