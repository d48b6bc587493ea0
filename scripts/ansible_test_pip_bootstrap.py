"""Stand-in for ansible-test's get-pip bootstrap script, for machines without its download server.

ansible-test creates a virtual environment per sanity test and bootstraps pip in it by
running ``~/.ansible/test/cache/get_pip_<version>.py``, which it would otherwise download
from its own server. This script does the same job from the pip wheel (from PyPI) lying
next to it. scripts/setup_ansible_test.sh installs it under that name.
"""
import glob
import os
import sys


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    version = os.path.splitext(os.path.basename(__file__))[0].replace('get_pip_', '').replace('_', '.')
    wheels = glob.glob(os.path.join(here, 'pip-%s-py3-none-any.whl' % version))
    if not wheels:
        sys.stderr.write('pip %s wheel missing in %s; run scripts/setup_ansible_test.sh\n' % (version, here))
        return 1
    sys.path.insert(0, wheels[0])
    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel
    args = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
    return pip_main(['install', '--upgrade', '--force-reinstall'] + args)


if __name__ == '__main__':
    sys.exit(main())
