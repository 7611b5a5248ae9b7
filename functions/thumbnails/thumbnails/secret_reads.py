"""Secrets read once per container, inside the invocation's deadline.

The CloudFront signing key (`url_signing`) and the request signing secret
(`request_signing`) are Secrets Manager strings that a container reads on first use and then
keeps. That first read is network I/O inside an invocation, so it is bounded like every
other call: `ReadOnce` runs it in a thread of its own, and a caller waits for it only until
its `Deadline` (then the caller's "too late" error, a 503: worth a retry). A read waited for
in vain is abandoned (`abandoned_calls`): its exchange is cut off and not retried, so nothing
of it goes on after the answer (Lambda freezes the container then, and a read left open would
resume in the next invocation); the next caller starts a read of its own. A failed read is
tried again by the next caller.

`read_secret` reads with a Secrets Manager client of its own, abandonable, with short
timeouts (the defaults could hold a stalled read for minutes), through Powertools' Parameters
utility (whose client honours ``AWS_ENDPOINT_URL_SECRETS_MANAGER``, as the tests use).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from .abandoned_calls import Call, running, watch
from .deadline import Deadline
from .errors import StorageError

#: Seconds Powertools may keep a secret it read. Each read has a provider of its own, so its
#: cache never serves another read; the callers keep the value for the container's life.
SECRET_MAX_AGE_S = 365 * 86400
#: Secrets Manager answers in tens of milliseconds. These bound a read nobody waits for any
#: more to about 2 x (2 + 5) s, instead of botocore's default 60 s timeouts and legacy retries.
SECRET_CONNECT_TIMEOUT_S = 2
SECRET_READ_TIMEOUT_S = 5
SECRET_MAX_ATTEMPTS = 2

T = TypeVar("T")


def read_secret(name: str, what: str = "The URL signing key secret") -> str:
    """The string value of the Secrets Manager secret `name` (a name or an ARN).

    Parameters
    ----------
    name : str
    what : str
        How error messages name the secret's role (``The request signing secret``).

    Raises
    ------
    StorageError
        502 when the secret cannot be read (missing, denied, unreachable) or holds no
        string; the message names the secret, never its value.
    """
    import boto3
    from aws_lambda_powertools.utilities import parameters
    from botocore.config import Config

    config = Config(
        connect_timeout=SECRET_CONNECT_TIMEOUT_S,
        read_timeout=SECRET_READ_TIMEOUT_S,
        retries={"mode": "standard", "max_attempts": SECRET_MAX_ATTEMPTS},
    )
    client = watch(boto3.client("secretsmanager", config=config))
    try:
        provider = parameters.SecretsProvider(boto3_client=client)
        value = provider.get(name, max_age=SECRET_MAX_AGE_S)
    except parameters.exceptions.GetParameterError as error:
        raise StorageError(f"{what} {name!r} cannot be read") from error
    if not isinstance(value, str) or not value.strip():
        raise StorageError(f"{what} {name!r} holds no string")
    return value


class ReadOnce(Generic[T]):
    """A value made once per container by `load` (network I/O), waited for within deadlines.

    Parameters
    ----------
    load : callable returning T
        Called in a thread of its own (named `name`), under an abandonable `Call`.
    name : str
    late : callable returning Exception
        The error a caller gets when `load` has not finished by its deadline (a 503).
    """

    def __init__(self, load: Callable[[], T], *, name: str, late: Callable[[], Exception]):
        self._load_value = load
        self._name = name
        self._late = late
        self._value: T | None = None
        self._loading: _Loading[T] | None = None  # the read in flight, if any
        self._lock = threading.Lock()

    def get(self, deadline: Deadline) -> T:
        """The value, once loaded; the load waited for until `deadline`.

        Raises
        ------
        Exception
            `late()` past `deadline`; whatever `load` raised if it failed.
        """
        with self._lock:
            if self._value is not None:
                return self._value
            if self._loading is None:  # none in flight: start one (a failed one is retried)
                self._loading = _Loading()
                threading.Thread(
                    target=self._load, args=(self._loading,), name=self._name, daemon=True
                ).start()
            loading = self._loading
        if not loading.done.wait(None if deadline.at is None else max(0.0, deadline.remaining())):
            # Cut off, so that nothing of it goes on after our answer; the next caller starts
            # a read of its own. (One invocation at a time per container: nobody else waits.)
            loading.call.abandon()
            with self._lock:
                if self._loading is loading:
                    self._loading = None
            raise self._late()
        if loading.error is not None:
            raise loading.error
        assert loading.value is not None
        return loading.value

    def _load(self, loading: _Loading[T]) -> None:
        """Make the value into `loading`, in the loading thread."""
        try:
            with running(loading.call):
                loading.value = self._load_value()
        except Exception as error:  # noqa: BLE001 - raised in every waiting caller's thread
            loading.error = self._late() if loading.call.abandoned else error
        with self._lock:
            if loading.value is not None:
                self._value = loading.value
            if self._loading is loading:
                self._loading = None
        loading.done.set()


class _Loading(Generic[T]):
    """One read: done once it has a value or an error; `call` is its network call,
    abandoned when its caller stops waiting."""

    def __init__(self) -> None:
        self.call = Call()
        self.done = threading.Event()
        self.value: T | None = None
        self.error: Exception | None = None
