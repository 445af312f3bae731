"""Imported first by every test script: exits with 77 (ctest's SKIP_RETURN_CODE
for these tests) and a printed reason when this interpreter cannot run them."""
import sys


def require(*modules):
    for m in modules:
        try:
            __import__(m)
        except ImportError as e:
            print(f"SKIP: {sys.executable} cannot import {m} ({e}); install Debian's python3-torch "
                  "python3-torchvision (./run.sh installs them)")
            sys.exit(77)
