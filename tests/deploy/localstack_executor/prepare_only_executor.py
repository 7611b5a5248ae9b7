"""A LocalStack Lambda executor that prepares each function version and never runs it.

``make test-deploy`` deploys the stack to LocalStack's CloudFormation engine to see what the
engine makes of the template, not to run the functions (``make test-lambda`` runs them).
LocalStack's own executor (``docker``) prepares a new function version by downloading its
runtime-init binary and pulling AWS's runtime image; neither can be fetched here (no registry
beyond the package indexes), so every function would end in state ``Failed`` and the stack
would not be created. LocalStack has no setting that skips this step, hence this executor,
chosen with ``LAMBDA_RUNTIME_EXECUTOR=prepare-only``: preparing a version unpacks its code
archive, as the docker executor does (a corrupt or missing archive still fails the function);
starting an execution environment fails with a clear message, so an invocation (an SQS
event source polling, say) can never look like a success.
"""

from __future__ import annotations

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

NOT_RUN = "make test-deploy does not run functions (LAMBDA_RUNTIME_EXECUTOR=prepare-only)"


class PrepareOnlyExecutor(RuntimeExecutor):
    """Prepares function versions (their code unpacked); refuses to start or invoke them."""

    @classmethod
    def prepare_version(cls, function_version) -> None:
        code = function_version.config.code
        if code:  # a zip package (None for an image function)
            code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version) -> None:
        pass

    def start(self, env_vars: dict[str, str]) -> None:
        raise LambdaRuntimeException(NOT_RUN)

    def stop(self) -> None:
        pass

    def get_address(self) -> str:
        raise LambdaRuntimeException(NOT_RUN)

    def get_endpoint_from_executor(self) -> str:
        raise LambdaRuntimeException(NOT_RUN)

    def get_runtime_endpoint(self) -> str:
        raise LambdaRuntimeException(NOT_RUN)

    def invoke(self, payload: dict[str, str]):
        raise LambdaRuntimeException(NOT_RUN)

    def get_logs(self) -> str:
        return ""


class PrepareOnlyExecutorPlugin(RuntimeExecutorPlugin):
    """The entry point LocalStack loads for ``LAMBDA_RUNTIME_EXECUTOR=prepare-only``."""

    name = "prepare-only"

    def load(self, *args, **kwargs) -> type[RuntimeExecutor]:
        return PrepareOnlyExecutor
