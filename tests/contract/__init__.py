"""The generative contract test: the README's promises, checked on every drawn request.

What it promises to check, for every case:

- an answer every time (the worker neither dies nor hangs, the handler never raises);
- a documented status (README "The API": 200, 204, 302, 400, 401, 403, 404, 413, 422, 502,
  503, 504), never a 500 (every case is something a caller or an upstream did), JSON
  ``{"message": ...}`` on every error;
- the answer before the deadline: the handler call's wall time at most the context's
  ``get_remaining_time_in_millis()`` when it was called;
- peak RSS under the function's 1769 MB: the worker runs with
  ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1769``, and the kernel's peak-RSS mark (``VmHWM``) is
  reset before each case and read after it, so each case's own peak is measured exactly
  (including what earlier cases of its warm process left behind, as in a warm container);
- no ``Authorization`` value (nor a character of it, nor its position in an encoding error)
  and no URL signature in the process's stdout/stderr (file descriptors 1 and 2, so the
  Powertools logs, tracebacks, threads and C code alike);
- no 5xx when upstream did nothing wrong (or only what the service must absorb: S3's 409
  and 412 on a write, a connection closed after a complete answer);
- no upstream work after the answer (an exchange still open, or begun, half a second after
  it: a thread left running past the deadline);
- pregeneration: a partial batch response every time, no ``pregeneration crashed``, a record
  of an object that is gone is not failed, a good frame's record does not fail.

How (``runner.py`` has the details):

- `cases` draws requests with `hypothesis`: query strings over every parameter (valid,
  extreme, invalid, repeated; labels in any script), a path by id or basename (or an unknown
  id, a bad basename, a static page), an ``Authorization`` header (none, long, with
  characters outside Latin-1, with CR LF), the frame from a pool of real FITS files (grey in
  every compression, 1xN, NaN-only, raw mosaics and cubes, colour sets, truncated, corrupt,
  huge declared sizes, a gzip bomb), the time left, and upstream faults; and SQS batches of
  Object Created notifications for good, corrupt and deleted objects;
- `world` runs moto's S3 server in its own process and, per lane, the local archive
  (`thumbnails.local.archive`) and two `fault_proxy.FaultProxy`\\s (S3 and frame downloads;
  the archive), which answer 409/412/429/500/503 (with ``Retry-After``), slow or trickling
  headers and bodies, truncation, resets, stalls, ``Connection: close`` and HTTP/1.0;
- `worker` is a process that runs a batch of cases through the real
  `thumbnails.api.handler` (API Gateway events from ``events/``) and
  `thumbnails.pregenerate.handler` (SQS events), each with a fake Lambda context counting
  down from the case's time left; a fresh worker every 25 cases, one per lane.

Runs: ``test_contract.py`` (in ``make test``): 150 derandomized cases, the same every run;
``make fuzz`` (``FUZZ_CASES=10000``, ``FUZZ_LANES=3``, ``FUZZ_SEED`` for another draw):
prints the counts and a minimal failing example of each broken promise.
"""
