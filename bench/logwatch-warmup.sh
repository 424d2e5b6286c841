#!/usr/bin/env bash
# How long botsentry-logwatch's warm-up at a restart takes (re-reading
# logwatch.warm_up_bytes of the log before the saved position), against
# reading the same file once with -r -p in the same run.
#
#   bash bench/logwatch-warmup.sh _build/NAME [MiB]
#
# The log: failed SMTP AUTH lines from random addresses with 100,000
# distinct logins, MiB mebibytes of it (default 64, the default
# warm_up_bytes).  Prints both times and their ratio, best of 2.
set -eu
B=$(cd "${1:?build directory}" && pwd)
MIB=${2:-64}
W=$(mktemp -d /tmp/bs-warmup.XXXXXX)
trap 'rm -rf "$W"' EXIT
LW=$B/logwatch/botsentry-logwatch

python3 - "$W/mail.log" "$MIB" <<'EOF'
import random, sys
random.seed(1)
limit = int(sys.argv[2]) * 1024 * 1024
n = size = 0
with open(sys.argv[1], 'w') as f:
    while size < limit:
        s = n // 10
        line = ("Nov 26 %02d:%02d:%02d smarthost postfix/submission/smtpd[77]: warning: "
                "unknown[198.51.%d.%d]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, "
                "sasl_username=user%d@isp.example\n") % ((s // 3600) % 24, (s // 60) % 60, s % 60,
                random.randint(0, 255), random.randint(1, 254), random.randint(1, 100000))
        f.write(line)
        size += len(line)
        n += 1
EOF
cat >"$W/bs.conf" <<EOF
database = "sqlite:$W/bs.db"
state_dir = "$W"
logwatch {
  timezone = "UTC"
  checkpoint_interval = 1s
  warm_up_bytes = $((MIB * 1024 * 1024))
}
EOF
"$B/cli/botsentry" -c "$W/bs.conf" db init >/dev/null 2>&1
lines=$(wc -l <"$W/mail.log")

# read the whole file once while following, so that the position is at its end
"$LW" -c "$W/bs.conf" -f -b -s "$W/state" "$W/mail.log" 2>"$W/first.err" &
pid=$!
for _ in $(seq 1 600); do grep -q "offset $(stat -c %s "$W/mail.log")" "$W/state" 2>/dev/null && break; sleep 0.1; done
kill -TERM "$pid"; wait "$pid" || true

best_r=999999 best_w=999999
for round in 1 2; do
  t0=$(date +%s%N)
  "$LW" -c "$W/bs.conf" -r "$W/mail.log" -p >/dev/null 2>&1
  r=$(( ($(date +%s%N) - t0) / 1000000 ))
  "$LW" -c "$W/bs.conf" -f -s "$W/state" "$W/mail.log" 2>"$W/warm.err" &
  pid=$!
  for _ in $(seq 1 600); do grep -q 'warm-up:' "$W/warm.err" && break; sleep 0.05; done
  kill -TERM "$pid"; wait "$pid" || true
  w=$(sed -n 's/.*warm-up: .* in \([0-9]*\) ms.*/\1/p' "$W/warm.err")
  [ "$r" -lt "$best_r" ] && best_r=$r
  [ -n "$w" ] && [ "$w" -lt "$best_w" ] && best_w=$w
done
echo "log: $MIB MiB, $lines lines"
echo "  -r FILE -p (baseline)      $best_r ms  1.00x"
awk -v w="$best_w" -v r="$best_r" 'BEGIN { printf "  warm-up at restart         %d ms  %.2fx the baseline'"'"'s time\n", w, w / r }'
