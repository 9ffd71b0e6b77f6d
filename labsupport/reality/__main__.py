"""`python -m labsupport.reality [path [step ...]]`: measure the steps live and save them."""

import sys

from .session import main

main(sys.argv[1:])
