"""tinydep: a very small third-party dependency for the example stack's Python project."""

__version__ = "0.1.0"


def greet(name: str) -> str:
    return f"hello, {name}"


def main() -> None:
    import sys

    print(greet(sys.argv[1] if len(sys.argv) > 1 else "world"))
