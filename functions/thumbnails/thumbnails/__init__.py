"""FITS thumbnail service: a pure rendering core plus thin AWS Lambda adapters.

Importing this package must stay cheap: numpy, astropy and Pillow are imported lazily by the
rendering modules only, so that a cache hit in a cold Lambda container never loads them.
"""

__version__ = "0.1.0"
