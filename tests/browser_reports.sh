#!/bin/sh
# Acceptance test of the HTML reports in a real browser (Debian's chromium, headless): each
# kind of report (training run, sweep, gradient check) loads with no console message and no
# request, its DOM holds the tables, plot paths and heat-map cells that scripts/report_examples.lua
# put in (expected.txt, counted from its data), and its screenshot is not blank (pixel
# statistics against those of an empty page).
#   tests/browser_reports.sh <engine binary> <source dir> [out dir for screenshots]
set -eu
engine=$1
src=$2
dir=$(mktemp -d)
keep=${3:-}
trap 'rm -rf "$dir"' EXIT
browser=$(command -v chromium || true)
if [ -z "$browser" ]; then
    echo "FAIL: chromium is not installed (scripts/dev test installs it)"; exit 1
fi
"$engine" "$src/scripts/report_examples.lua" "$dir/out" > /dev/null
run_browser() { # url, extra options...
    url=$1; shift
    # --no-sandbox: CI and containers run as root; HOME: a profile of its own
    HOME="$dir/home" timeout 120 "$browser" --headless --no-sandbox --disable-gpu \
        --hide-scrollbars --no-first-run --enable-logging=stderr --v=0 "$@" "$url"
}
printf '<!DOCTYPE html><html><body></body></html>' > "$dir/blank.html"
run_browser "file://$dir/blank.html" --screenshot="$dir/blank.png" --window-size=1280,1800 \
    > /dev/null 2>&1
blank=$(python3 "$src/tests/png_stats.py" "$dir/blank.png")
echo "empty page: $blank"
fail=0
for kind in run sweep gradcheck; do
    html="$dir/out/$kind.html"
    line=$(grep "^$kind " "$dir/out/expected.txt")
    want() { echo "$line" | sed "s/.* $1=\([^ ]*\).*/\1/"; }
    # self-contained: no script, nothing fetched (the SVG namespace is a name, not a request)
    if grep -qiE '<script|<link|<img|src=|@import|url\(' "$html"; then
        echo "FAIL $kind: the page refers to something outside itself"; fail=1
    fi
    run_browser "file://$html" --dump-dom > "$dir/$kind.dom" 2> "$dir/$kind.log"
    if grep -E 'CONSOLE|Failed to load|net::ERR' "$dir/$kind.log"; then
        echo "FAIL $kind: console messages"; fail=1
    fi
    tables=$(grep -o '<table' "$dir/$kind.dom" | wc -l)
    series=$(grep -o '<path class="series"' "$dir/$kind.dom" | wc -l)
    cells=$(grep -o '<rect class="cell"' "$dir/$kind.dom" | wc -l)
    echo "$kind: DOM tables=$tables series=$series cells=$cells; expected $line"
    [ "$tables" -eq "$(want tables)" ] || { echo "FAIL $kind: tables"; fail=1; }
    [ "$series" -eq "$(want series)" ] || { echo "FAIL $kind: plot paths"; fail=1; }
    [ "$cells" -eq "$(want cells)" ] || { echo "FAIL $kind: heat-map cells"; fail=1; }
    if [ "$kind" = run ]; then
        rows=$(sed -n '/<h2>Epochs<\/h2>/,/<\/table>/p' "$dir/$kind.dom" | grep -o '<tr' | wc -l)
        [ "$rows" -eq $(( $(want rows) + 1 )) ] || { echo "FAIL run: $rows epoch rows"; fail=1; }
    fi
    if [ "$kind" = sweep ]; then
        grep -q '>diverged</text>' "$dir/$kind.dom" && grep -q '>error</text>' "$dir/$kind.dom" ||
            { echo "FAIL sweep: diverged and crashed runs not marked"; fail=1; }
    fi
    if [ "$kind" = gradcheck ]; then
        grep -q "<div class=\"verdict [a-z]*\">$(want verdict)</div>" "$dir/$kind.dom" ||
            { echo "FAIL gradcheck: verdict"; fail=1; }
        grep -q "<tr class=\"marked\"><td>[0-9]*</td><td class=\"l\">$(want failing)</td>" \
            "$dir/$kind.dom" || { echo "FAIL gradcheck: failing layer not marked"; fail=1; }
    fi
    run_browser "file://$html" --screenshot="$dir/$kind.png" --window-size=1280,1800 \
        > /dev/null 2>&1
    stats=$(python3 "$src/tests/png_stats.py" "$dir/$kind.png")
    echo "$kind screenshot: $stats"
    nonwhite=$(echo "$stats" | sed 's/.*nonwhite=\([0-9.]*\).*/\1/')
    colours=$(echo "$stats" | sed 's/.*colours=\([0-9]*\).*/\1/')
    # an empty page is all white (nonwhite 0, 1 colour); a report has text, lines and colours
    awk -v n="$nonwhite" -v c="$colours" 'BEGIN { exit !(n >= 0.01 && c >= 50) }' ||
        { echo "FAIL $kind: the screenshot looks blank"; fail=1; }
    [ -z "$keep" ] || cp "$dir/$kind.png" "$keep/report_$kind.png"
done
[ "$fail" -eq 0 ] && echo ok
exit "$fail"
