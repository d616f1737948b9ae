"""The upstream library the hello-world function depends on."""

from importlib.metadata import version


def greeting(target: str) -> str:
    return f"hello {target} from sam-sync-test-upstream {version('sam-sync-test-upstream')}"
