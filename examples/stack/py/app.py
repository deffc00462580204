"""The example stack's Python entry point: proves the venv's locked dependency imports."""
import tinydep

if __name__ == "__main__":
    print(tinydep.greet("stack"))
