"""Local mode: the whole service on one machine, with no AWS account and no Docker.

``python -m thumbnails serve`` (``make serve``) runs `server.LocalService`: the real API and
pregeneration handlers behind a local API Gateway (`gateway`), with a local S3 (moto), an
embedded archive over the frames in the local data bucket (`archive`), sample frames made by
the project's own code (`samples`) and a gallery of live thumbnails at ``/`` (`gallery`).
"""
