"""Stand-in for ansible-test's pip bootstrap script (get-pip.py), for machines that reach PyPI only.

ansible-test downloads get-pip.py from a host outside PyPI and runs it as __main__ inside each new
sanity-test virtual environment, passing pip's options and packages on the command line. This script
does the same job with the pip wheel that `make sanity-bootstrap` puts beside it from PyPI.
"""

from __future__ import annotations

import glob
import os
import sys

GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    # Installed as get_pip_<version>.py: that pip's wheel, else the newest there is.
    version = os.path.basename(__file__)[len('get_pip_'):-len('.py')].replace('_', '.')
    wheels = sorted(glob.glob(os.path.join(here, 'pip-%s-*.whl' % version))) or sorted(glob.glob(os.path.join(here, 'pip-*.whl')))
    if not wheels:
        sys.exit('no pip wheel beside %s: run make sanity-bootstrap' % __file__)
    sys.path.insert(0, wheels[-1])
    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel

    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    sys.exit(pip_main(['install', '--upgrade', '--force-reinstall'] + args))


if __name__ == '__main__':
    main()
