#!/usr/bin/env bash
# keyward's cost on sshd's login path, measured against `cat` of the same file
# (the floor: one exec, one read) and, end to end, against sshd's own
# AuthorizedKeysFile. Not part of the tests; never gates CI.
#
#   sudo bash benches/run.sh            # Debian 12, as root; about 5 minutes
#
# Writes target/bench/results.csv and target/bench/latency.png, prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "benches/run.sh: run as root" >&2; exit 1; }

need=()
for pkg in hyperfine time python3-matplotlib openssh-server openssh-client; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
PY=/usr/bin/python3   # Debian's, which has matplotlib

cargo build --release --locked -q
OUT=$PWD/target/bench
mkdir -p "$OUT"
B=/var/lib/keyward-bench       # root-owned 0755, as sshd and keyward require
rm -rf "$B"; install -d -m 0755 "$B" "$B/home" "$B/store" "$B/store/users" "$B/bigstore" "$B/bigstore/users"
install -m 0755 target/release/keyward "$B/keyward"
USERS=()
SSHD_PID=
LOGGER_PID=
cleanup() {
    [ -z "$SSHD_PID" ] || kill "$SSHD_PID" 2>/dev/null || true
    [ -z "$LOGGER_PID" ] || kill "$LOGGER_PID" 2>/dev/null || true
    for u in "${USERS[@]}"; do userdel "$u" >/dev/null 2>&1 || true; done
    rm -rf "$B"
}
trap cleanup EXIT INT TERM

# A real syslog socket, drained, so keyward's sends cost what they cost.
$PY - "$B/log.sock" <<'EOF' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666)
while True: s.recv(65536)
EOF
LOGGER_PID=$!
for _ in $(seq 50); do [ -S "$B/log.sock" ] && break; sleep 0.1; done

for hc in on off; do
    enabled=true; [ $hc = on ] || enabled=false
    printf 'store = "%s/store"\n[syslog]\nsocket = "%s/log.sock"\n[home_check]\nenabled = %s\n' \
        "$B" "$B" "$enabled" > "$B/home-$hc.toml"
done
printf 'store = "%s/bigstore"\n[syslog]\nsocket = "%s/log.sock"\n[home_check]\nenabled = false\n' \
    "$B" "$B" > "$B/big.toml"
chmod 0644 "$B"/*.toml

# The key that logs in, and N-1 filler keys nobody holds; the real key is last.
ssh-keygen -q -t ed25519 -N '' -C bench -f "$B/id"
FP=$(ssh-keygen -lf "$B/id.pub" | awk '{print $2}')
KEY=$(awk '{print $2}' "$B/id.pub")     # what sshd's %k passes
$PY - "$B" <<'EOF'
import base64, os, struct, sys
b = sys.argv[1]
real = open(f"{b}/id.pub").read()
def filler(i):
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + i.to_bytes(31, "big") + b"\x5a"
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} filler{i}\n"
for n in (1, 100, 10_000, 100_000):
    lines = [filler(i) for i in range(n - 1)] + [real]
    with open(f"{b}/store/users/u{n}", "w") as f:
        f.writelines(lines)
    d = f"{b}/store/users/d{n}"
    os.mkdir(d)
    per = max(1, len(lines) // 10)
    for k in range(0, len(lines), per):
        with open(f"{d}/{k // per:02d}", "w") as f:
            f.writelines(lines[k:k + per])
# 100,000 users with one key each: a lookup must not care.
for i in range(100_000):
    with open(f"{b}/bigstore/users/user{i}", "w") as f:
        f.write(filler(i))
with open(f"{b}/bigstore/users/u1", "w") as f:
    f.write(real)
EOF
chmod -R go-w "$B/store" "$B/bigstore"; chmod -R a+rX "$B/store" "$B/bigstore"

# Whole processes, as sshd runs them; cat of the same bytes is the floor.
CSV=$OUT/results.csv
echo "case,keys,layout,fingerprint,home_check,median_ms,p99_ms,cat_median_ms,ratio_to_cat,peak_rss_kib,interleaved_ratio" > "$CSV"
# hyperfine times all runs of one command, then all of the other; on this
# kind of VM the machine drifts between the two blocks by as much as the
# difference being measured. For the small cases, also time them strictly
# alternating, spawn to exit as hyperfine -N does, and give that ratio.
interleave() {  # runs kw-argv... -- cat-argv...: prints median(kw)/median(cat)
    $PY - "$@" <<'EOF'
import os, statistics, sys, time
a = sys.argv[1:]
runs, sep = int(a[0]), a.index("--")
cmds = [a[1:sep], a[sep + 1:]]
null = os.open("/dev/null", os.O_RDWR)
acts = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)]
times = [[], []]
for i in range(runs + 20):
    for j in ((0, 1) if i % 2 else (1, 0)):
        t = time.perf_counter_ns()
        os.waitpid(os.posix_spawn(cmds[j][0], cmds[j], {}, file_actions=acts), 0)
        if i >= 20:  # warm-up
            times[j].append(time.perf_counter_ns() - t)
print(f"{statistics.median(times[0]) / statistics.median(times[1]):.2f}")
EOF
}
summarize() {  # hyperfine-json csv-prefix rss interleaved: appends one CSV row (kw against cat)
    $PY - "$@" >> "$CSV" <<'EOF'
import json, statistics, sys
r = {x["command"]: sorted(x["times"]) for x in json.load(open(sys.argv[1]))["results"]}
def p(ts, q): return ts[min(len(ts) - 1, int(q * len(ts)))] * 1000
kw, cat = r["kw"], r["cat"]
med, catmed = statistics.median(kw) * 1000, statistics.median(cat) * 1000
print(f"{sys.argv[2]},{med:.3f},{p(kw, .99):.3f},{catmed:.3f},{med / catmed:.2f},{sys.argv[3]},{sys.argv[4]}")
EOF
}
measure() {  # name keys layout fp(yes/no|home) hc(on/off) config user catfile
    local name=$1 keys=$2 layout=$3 fp=$4 hc=$5 cfg=$6 user=$7 catfile=$8 runs
    runs=300; [ "$keys" -ge 10000 ] && runs=40
    local args=("$B/keyward" --config "$cfg" keys "$user")
    case $fp in
        no) ;;
        key) args+=("$KEY") ;;
        *) args+=("$FP") ;;
    esac
    # "home": sshd's %h %U as `keyward setup` registers them (a safe home).
    [ "$fp" != home ] || args+=("$B/home" 65534)
    hyperfine -N -w 10 -r $runs --export-json "$OUT/$name.json" \
        --command-name kw "${args[*]}" --command-name cat "cat $catfile" >/dev/null 2>&1
    local rss inter=
    rss=$(/usr/bin/time -f %M "${args[@]}" 2>&1 >/dev/null | tail -1)
    [ "$keys" -gt 100 ] || inter=$(interleave 1000 "${args[@]}" -- /usr/bin/cat "$catfile")
    summarize "$OUT/$name.json" "$name,$keys,$layout,$fp,$hc" "$rss" "$inter"
}
# %k: the offered key itself, on the store as an admin dropped it by hand
# (no index): nothing is hashed.
for n in 1 100 10000 100000; do
    measure "file-$n-key" $n file key off "$B/home-off.toml" "u$n" "$B/store/users/u$n"
    measure "frag-$n-key" $n fragments key off "$B/home-off.toml" "d$n" "$B/store/users/u$n"
done
# The floor of any Rust program: an empty one, against cat, in the same way.
printf 'fn main() {}\n' > "$B/empty.rs"
rustc -O -C panic=abort -o "$B/empty" "$B/empty.rs"
EMPTY_RATIO=$(interleave 1000 "$B/empty" -- /usr/bin/cat "$B/store/users/u1")
KEY1_RATIO=$(interleave 1000 "$B/keyward" --config "$B/home-off.toml" keys u1 "$KEY" -- /usr/bin/cat "$B/store/users/u1")
echo "empty-rust-program,0,floor of any Rust binary,no,off,,,,,,$EMPTY_RATIO" >> "$CSV"
echo "file-1-key-beside-empty,1,file,key,off,,,,,,$KEY1_RATIO" >> "$CSV"

# One chained command ([[chain]]) after a one-key store, against that
# command alone: what keyward adds in front of, say, sss_ssh_authorizedkeys.
# The chained command prints 10 keys, the offered one last.
printf '#!/bin/sh\nexec cat %s/chain-keys\n' "$B" > "$B/chained.sh"
chmod 0755 "$B/chained.sh"
{ head -n 9 "$B/store/users/u10000"; cat "$B/id.pub"; } > "$B/chain-keys"
install -d -m 0755 "$B/chainstore" "$B/chainstore/users"
printf 'store = "%s/chainstore"\n[syslog]\nsocket = "%s/log.sock"\n[home_check]\nenabled = false\n[[chain]]\ncommand = "%s/chained.sh %%u"\n' \
    "$B" "$B" "$B" > "$B/chain.toml"
chmod 0644 "$B/chain.toml" "$B/chain-keys"
head -n 1 "$B/store/users/u100" > "$B/chainstore/users/u1"
hyperfine -N -w 10 -r 300 --export-json "$OUT/chain.json" \
    --command-name kw "$B/keyward --config $B/chain.toml keys u1 $KEY" \
    --command-name cat "$B/chained.sh u1" >/dev/null 2>&1
# "cat" here is the chained command run alone, as sshd would run it.
summarize "$OUT/chain.json" "chain-1-command,10,one chained command vs that command alone,key,off" "" ""

# The biggest user without its index, then every user indexed the way
# `keyward add` would leave them (the store above was written by hand).
measure "file-100000-fp-noindex" 100000 file yes off "$B/home-off.toml" "u100000" "$B/store/users/u100000"
"$B/keyward" --config "$B/home-off.toml" index >/dev/null
for n in 1 100 10000 100000; do
    measure "file-$n-fp" $n file yes off "$B/home-off.toml" "u$n" "$B/store/users/u$n"
    measure "file-$n-all" $n file no off "$B/home-off.toml" "u$n" "$B/store/users/u$n"
    measure "frag-$n-fp" $n fragments yes off "$B/home-off.toml" "d$n" "$B/store/users/u$n"
done
# The home check as sshd runs it now (%h %U given), and without them: the
# user is then looked up in the user database (and is not there).
measure "file-1-fp-homecheck" 1 file home on "$B/home-on.toml" "u1" "$B/store/users/u1"
measure "file-100-fp-homecheck" 100 file home on "$B/home-on.toml" "u100" "$B/store/users/u100"
measure "file-1-fp-homecheck-nss" 1 file yes on "$B/home-on.toml" "u1" "$B/store/users/u1"
measure "bigstore-1-fp" 1 "100k-user store" yes off "$B/big.toml" "u1" "$B/bigstore/users/u1"

# End to end: a real login through a real sshd, keyward versus the same key in
# ~/.ssh/authorized_keys (home 0755, where StrictModes passes).
install -d -m 0755 /run/sshd "$B/homes"
mk_user() {
    local name=kwb$$$1
    useradd -M -U -s /bin/sh -p '*' -d "$B/homes/$name" "$name"
    USERS+=("$name")
    install -d -m 0755 -o "$name" -g "$name" "$B/homes/$name"
    echo "$name"
}
U_FILE=$(mk_user f); U_KW=$(mk_user k); U_ALL=$(mk_user a); U_ONE=$(mk_user o)
install -m 0644 "$B/store/users/u100000" "$B/store/users/$U_ALL"
install -m 0644 "$B/store/users/u100000" "$B/store/users/$U_ONE"
install -d -m 0700 -o "$U_FILE" -g "$U_FILE" "$B/homes/$U_FILE/.ssh"
install -m 0600 -o "$U_FILE" -g "$U_FILE" "$B/id.pub" "$B/homes/$U_FILE/.ssh/authorized_keys"
install -m 0644 "$B/id.pub" "$B/store/users/$U_KW"
ssh-keygen -q -t ed25519 -N '' -f "$B/hostkey"
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$B/sshd_config" <<EOF
ListenAddress 127.0.0.1:$PORT
HostKey $B/hostkey
PidFile none
StrictModes yes
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
AuthorizedKeysCommand $B/keyward --config $B/home-on.toml keys %u %k %h %U
AuthorizedKeysCommandUser nobody
# A 100,000-key user whose command prints every line, against one whose
# command prints the one line %k names: sshd parses what it is given, twice.
Match User $U_ALL
    AuthorizedKeysCommand $B/keyward --config $B/home-on.toml keys %u
EOF
/usr/sbin/sshd -D -f "$B/sshd_config" & SSHD_PID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.05; done
SSH="ssh -F /dev/null -i $B/id -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p $PORT"
$SSH "$U_KW@127.0.0.1" true && $SSH "$U_FILE@127.0.0.1" true
hyperfine -N -w 3 -r 40 --export-json "$OUT/login.json" \
    --command-name kw "$SSH $U_KW@127.0.0.1 true" \
    --command-name cat "$SSH $U_FILE@127.0.0.1 true" >/dev/null 2>&1
# "cat" here is the AuthorizedKeysFile login: the column is the baseline.
summarize "$OUT/login.json" "login-via-sshd,1,sshd AuthorizedKeysFile baseline,key,on" "" ""
$SSH "$U_ALL@127.0.0.1" true && $SSH "$U_ONE@127.0.0.1" true
hyperfine -N -w 2 -r 15 --export-json "$OUT/login-100k.json" \
    --command-name kw "$SSH $U_ALL@127.0.0.1 true" \
    --command-name cat "$SSH $U_ONE@127.0.0.1 true" >/dev/null 2>&1
# kw: all 100,000 lines printed (keys %u); cat: the one line %k selects.
summarize "$OUT/login-100k.json" "login-100000-all-vs-one,100000,all lines vs the %k line,key,on" "" ""

# 10,000 one-key fragments: keyward against coreos ssh-key-dir reading the
# same fragments from ~/.ssh/authorized_keys.d, and cat of all of them.
if command -v ssh-key-dir >/dev/null || cargo install ssh-key-dir --locked -q 2>/dev/null; then
    SKD=$(command -v ssh-key-dir || echo "$HOME/.cargo/bin/ssh-key-dir")
    U_DIR=$(mk_user d)
    frag=$B/store/users/$U_DIR
    install -d -m 0755 "$frag"
    $PY - "$frag" "$B/id.pub" <<'EOF2'
import base64, struct, sys
d, real = sys.argv[1], open(sys.argv[2]).read()
for i in range(9_999):
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + i.to_bytes(31, "big") + b"\x5a"
    open(f"{d}/{i:05d}", "w").write(f"ssh-ed25519 {base64.b64encode(blob).decode()} f{i}\n")
open(f"{d}/99999", "w").write(real)
EOF2
    chmod -R a+rX "$frag"
    home=$B/homes/$U_DIR
    install -d -m 0700 -o "$U_DIR" -g "$U_DIR" "$home/.ssh"
    cp -r "$frag" "$home/.ssh/authorized_keys.d"
    chown -R "$U_DIR:$U_DIR" "$home/.ssh/authorized_keys.d"
    hyperfine -N -w 3 -r 30 --export-json "$OUT/frag10k.json" \
        --command-name kw "$B/keyward --config $B/home-off.toml keys $U_DIR $KEY" \
        --command-name ssh-key-dir "$SKD $U_DIR" \
        --command-name cat "sh -c 'cat $frag/*'" >/dev/null 2>&1
    $PY - "$OUT/frag10k.json" >> "$CSV" <<'EOF2'
import json, statistics, sys
r = {x["command"]: statistics.median(x["times"]) * 1000 for x in json.load(open(sys.argv[1]))["results"]}
print(f"frag-10000-files-key,10000,10000 fragments,key,off,{r['kw']:.3f},,{r['cat']:.3f},{r['kw'] / r['cat']:.2f},,")
print(f"ssh-key-dir-10000-files,10000,ssh-key-dir on the same fragments,no,off,{r['ssh-key-dir']:.3f},,{r['cat']:.3f},{r['ssh-key-dir'] / r['cat']:.2f},,")
EOF2
else
    echo "benches: ssh-key-dir could not be installed; its row is left out" >&2
fi

$PY - "$CSV" "$OUT/latency.png" <<'EOF'
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"{'case':30} {'median ms':>9} {'p99 ms':>8} {'floor ms':>8} {'ratio':>6} {'RSS KiB':>8} {'interleaved':>11}")
def num(v, width, digits):
    return f"{float(v):{width}.{digits}f}" if v else " " * width
for r in rows:
    print(f"{r['case']:30} {num(r['median_ms'], 9, 3)} {num(r['p99_ms'], 8, 3)} "
          f"{num(r['cat_median_ms'], 8, 3)} {num(r['ratio_to_cat'], 6, 2)} {r['peak_rss_kib']:>8} "
          f"{r['interleaved_ratio']:>11}")
fig, ax = plt.subplots(figsize=(7, 4.5))
for prefix, label in (("file-", "keyward, one file, %f"), ("frag-", "keyward, fragments, %f")):
    pts = [(int(r["keys"]), float(r["median_ms"])) for r in rows
           if r["case"].startswith(prefix) and r["case"].endswith("-fp")]
    ax.plot(*zip(*pts), marker="o", label=label)
pts = [(int(r["keys"]), float(r["median_ms"])) for r in rows
       if r["case"].startswith("file-") and r["case"].endswith("-all")]
ax.plot(*zip(*pts), marker="s", label="keyward, one file, all keys")
pts = [(int(r["keys"]), float(r["cat_median_ms"])) for r in rows
       if r["case"].startswith("file-") and r["case"].endswith("-fp")]
ax.plot(*zip(*pts), marker="^", linestyle="--", label="cat of the same file (floor)")
ax.set_xscale("log"); ax.set_yscale("log")
ax.set_xlabel("keys for the user"); ax.set_ylabel("median latency per run (ms)")
ax.set_title("keyward keys USER [FP]: latency against store size")
ax.grid(True, which="both", alpha=.3); ax.legend()
fig.tight_layout(); fig.savefig(sys.argv[2], dpi=110)
print(f"\nCSV: {sys.argv[1]}\nchart: {sys.argv[2]}")
EOF
