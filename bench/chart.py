"""One PNG of every benchmark's figures: a horizontal bar chart of seconds per case, one panel per benchmark.

    bench/.venv-bench/bin/python bench/chart.py bench/results/figures.json bench/results/report.png

Run by run_all.py with the bench venv's matplotlib (Agg backend: no display needed).
"""
import json
import sys

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)


def main(source, target):
    figures = json.loads(open(source).read())
    fig, axes = plt.subplots(len(figures), 1, figsize=(10, 2.2 + 0.9 * sum(len(f['rows']) for f in figures)),
                             squeeze=False, gridspec_kw={'height_ratios': [max(1, len(f['rows'])) for f in figures]})
    for axis, data in zip(axes[:, 0], figures):
        labels = [row['label'] for row in data['rows']]
        seconds = [row['seconds'] for row in data['rows']]
        bars = axis.barh(range(len(labels)), seconds, color='#4878a8')
        axis.set_yticks(range(len(labels)))
        axis.set_yticklabels(labels, fontsize=8)
        axis.invert_yaxis()
        axis.set_xlabel('seconds', fontsize=8)
        axis.set_title('%s  (%s)' % (data['benchmark'], '; '.join(data.get('notes') or [])), fontsize=9)
        for patch, value in zip(bars, seconds):
            axis.text(patch.get_width(), patch.get_y() + patch.get_height() / 2, ' %.2f' % value, va='center',
                      fontsize=7)
        axis.margins(x=0.15)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], sys.argv[2]))
