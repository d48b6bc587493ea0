"""Run every bench/bench_*.py and gather what they print and measure into one report and one chart.

    .venv/bin/python bench/run_all.py                  # what `make bench` runs (after bench/bootstrap.sh)
    .venv/bin/python bench/run_all.py apply_path site  # only these (bench_<name>.py)

Each benchmark prints its own tables and ratios and writes its figures to bench/results/<name>.json
(benchlib.save_figures). This runner only sequences them, so a failing benchmark does not hide the
others, then writes bench/results/report.md (one summary table of every figure, then each
benchmark's own output) and bench/results/report.png (bench/chart.py, matplotlib with the Agg
backend from bench/.venv-bench).
"""
import datetime
import json
import os
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / 'results'
BENCH_PYTHON = HERE / '.venv-bench' / 'bin' / 'python'


def summary(figures):
    lines = ['| benchmark | case | seconds | other figures |', '| --- | --- | ---: | --- |']
    for fig in figures:
        for row in fig['rows']:
            other = ', '.join('%s=%s' % (k, v) for k, v in sorted(row.items())
                              if k not in ('label', 'seconds', 'by_verb', 'side', 'run') and v is not None)
            lines.append('| %s | %s | %.2f | %s |' % (fig['benchmark'], row['label'], row['seconds'], other))
        if fig.get('notes'):
            lines.append('| %s | *%s* | | |' % (fig['benchmark'], '; '.join(fig['notes'])))
    return '\n'.join(lines)


def main(argv):
    RESULTS.mkdir(exist_ok=True)
    scripts = sorted(HERE.glob('bench_*.py'))
    if argv:
        scripts = [s for s in scripts if s.stem[len('bench_'):] in argv]
    sections, failed, figures = [], [], []
    for script in scripts:
        name = script.stem[len('bench_'):]
        stale = RESULTS / ('%s.json' % name)
        if stale.exists():
            stale.unlink()
        start = time.monotonic()
        sys.stdout.write('== %s\n' % script.name)
        sys.stdout.flush()
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False,
                              cwd=str(HERE.parent))
        took = time.monotonic() - start
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr[-4000:])
        sections.append('## %s (%.1f s, rc=%d)\n\n%s\n' % (script.name, took, proc.returncode, proc.stdout.strip()))
        if proc.returncode:
            failed.append(script.name)
        elif stale.exists():
            figures.append(json.loads(stale.read_text()))
    when = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    header = ('# Benchmark report\n\n%s on %s (%d CPUs, load average %s at the end). Ratios are what to compare.\n\n'
              % (when, os.uname().nodename, os.cpu_count(), ' '.join('%.1f' % x for x in os.getloadavg())))
    chart = RESULTS / 'report.png'
    chart_note = ''
    if figures:
        (RESULTS / 'figures.json').write_text(json.dumps(figures, indent=1))
        if BENCH_PYTHON.exists():
            proc = subprocess.run([str(BENCH_PYTHON), str(HERE / 'chart.py'), str(RESULTS / 'figures.json'), str(chart)],
                                  capture_output=True, text=True, check=False)
            if proc.returncode:
                failed.append('chart.py')
                sys.stderr.write(proc.stderr[-2000:])
            else:
                chart_note = '![every figure](report.png)\n\n'
        else:
            chart_note = '(no chart: run bench/bootstrap.sh for bench/.venv-bench with matplotlib)\n\n'
    report = RESULTS / 'report.md'
    report.write_text(header + '## Summary\n\n' + summary(figures) + '\n\n' + chart_note + '\n'.join(sections))
    sys.stdout.write('\nreport written to %s%s\n' % (report, ' and %s' % chart if chart_note.startswith('!') else ''))
    if failed:
        sys.stderr.write('failed: %s\n' % ', '.join(failed))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
