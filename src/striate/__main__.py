"""`python -m striate ...`: the `striate` command, as torchrun starts it (`torchrun ... -m striate train ...`)."""

from striate.cli import main

if __name__ == "__main__":
    main()
