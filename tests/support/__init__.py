"""Helpers the tests share: FITS frames, misbehaving servers, an S3 with faults, the API."""
