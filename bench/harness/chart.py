"""The PNG chart (gnuplot): proxy CPU per request and requests/s per protocol pair."""

import os
import shutil
import subprocess

from .peers import PAIRS
from .report import PAIR_TITLES, median
from .scenarios import SMALL_BODY


def draw(records, targets, png_path, workdir):
    """Returns None on success, else why no chart was drawn."""
    if shutil.which("gnuplot") is None:
        return "gnuplot is missing (Debian package gnuplot-nox): no chart"
    proxies = [t for t in targets if t != "direct"
               and median(records, "cpu_us", kind="thr", target=t, body=SMALL_BODY) is not None]
    if not proxies:
        return "no proxy measured: no chart"
    data = os.path.join(workdir, "chart.dat")
    with open(data, "w") as f:
        f.write("pair " + " ".join(f'"{t}"' for t in proxies) + "\n")
        for pair in PAIRS:
            cpu = [median(records, "cpu_us", kind="thr", target=t, pair=pair, body=SMALL_BODY)
                   for t in proxies]
            f.write(f'"{PAIR_TITLES[pair]}" ' + " ".join("?" if v is None else f"{v:.2f}" for v in cpu) + "\n")
    rps_data = os.path.join(workdir, "chart_rps.dat")
    with open(rps_data, "w") as f:
        f.write("pair " + " ".join(f'"{t}"' for t in proxies) + "\n")
        for pair in PAIRS:
            rps = [median(records, "rps", kind="thr", target=t, pair=pair, body=SMALL_BODY)
                   for t in proxies]
            f.write(f'"{PAIR_TITLES[pair]}" ' + " ".join("?" if v is None else f"{v / 1000:.2f}" for v in rps) + "\n")
    cols = len(proxies) + 1
    script = f"""
set terminal pngcairo size 1200,900 font ",11"
set output "{png_path}"
set multiplot layout 2,1 title "Seawall vs peers (one proxy core, 100-byte bodies, medians)"
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key outside right top
set yrange [0:*]
set ylabel "proxy CPU us / request (lower is better)"
plot for [i=2:{cols}] "{data}" using i:xtic(1) title columnheader(i)
set ylabel "k requests / s"
plot for [i=2:{cols}] "{rps_data}" using i:xtic(1) title columnheader(i)
unset multiplot
"""
    gp = os.path.join(workdir, "chart.gp")
    with open(gp, "w") as f:
        f.write(script)
    p = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
    if p.returncode != 0:
        return f"gnuplot failed: {p.stderr.strip()[-300:]}"
    return None
