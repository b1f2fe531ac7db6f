"""`python -m speechopt.cli`: the same as the `speechopt` command."""

from speechopt.cli import main

if __name__ == "__main__":  # importing this module (as the import tests do) must not run the CLI
    main()
