"""Run every bench/bench_*.py and gather what they print into one markdown report.

Each benchmark prints its own table and ratios; this runner only sequences them, so a
failing benchmark does not hide the others, and writes bench/results/report.md.
"""
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


def main():
    results = HERE / 'results'
    results.mkdir(exist_ok=True)
    sections = []
    failed = []
    for script in sorted(HERE.glob('bench_*.py')):
        start = time.monotonic()
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False,
                              cwd=str(HERE.parent))
        took = time.monotonic() - start
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr[-4000:])
        sections.append('## %s (%.1f s, rc=%d)\n\n%s\n' % (script.name, took, proc.returncode, proc.stdout.strip()))
        if proc.returncode:
            failed.append(script.name)
    report = results / 'report.md'
    report.write_text('# Benchmark report\n\n' + '\n'.join(sections))
    sys.stdout.write('\nreport written to %s\n' % report)
    if failed:
        sys.stderr.write('failed: %s\n' % ', '.join(failed))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
