"""``python -m rct`` runs the command-line tool."""

from rct.cli import main

if __name__ == "__main__":
    main()
