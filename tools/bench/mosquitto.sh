#!/usr/bin/env bash
# The peer for mpsync-bench: mosquitto (QoS 1, persistent session) backlog drain and latency, as JSON.
# SPDX-License-Identifier: Apache-2.0
# usage: mosquitto.sh [N] [PAYLOAD_BYTES] [LATENCY_SAMPLES]
# Installs Debian mosquitto + mosquitto-clients when missing (via scripts/deps.sh, as root).
set -euo pipefail

n=${1:-100000}
payload=${2:-200}
samples=${3:-500}
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v mosquitto >/dev/null && ! [ -x /usr/sbin/mosquitto ] || ! command -v mosquitto_sub >/dev/null; then
  bash "$here/../../scripts/deps.sh" mosquitto mosquitto-clients >&2
fi
broker=$(command -v mosquitto || echo /usr/sbin/mosquitto)

dir=$(mktemp -d "${TMPDIR:-/tmp}/mpsync-bench-mosquitto-XXXXXX")
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Loopback only, anonymous, messages kept in memory (persistence off: mosquitto commits nothing to
# disk), a queue deep enough for the whole backlog, and an in-flight window of 100 (the default
# is 20) so that the peer runs at its best.
cat >"$dir/mosquitto.conf" <<CONF
listener $port 127.0.0.1
user $(id -un)
allow_anonymous true
persistence false
max_queued_messages $((n + 1000))
max_queued_bytes 0
max_inflight_messages 100
log_dest file $dir/mosquitto.log
CONF
"$broker" -c "$dir/mosquitto.conf" &
pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
opts=(-h 127.0.0.1 -p "$port" -q 1)
body=$(head -c "$payload" /dev/zero | tr '\0' x)

# Backlog: a persistent session (clean session off) subscribes, goes away, N messages are queued
# for it, then it comes back and takes them all.
mosquitto_sub "${opts[@]}" -c -i bench-drain -t bench/drain -E
t0=$(now_us)
python3 - "$port" "$n" "$payload" <<'PY'
# Queues N QoS 1 publishes, 100 in flight, and returns once the broker acknowledged every one
# (mosquitto_pub -l disconnects at EOF with publishes still unacknowledged: they are lost).
import socket, struct, sys
port, n, payload = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def enc_len(k):
    out = b""
    while True:
        b, k = k % 128, k // 128
        out += bytes([b | (0x80 if k else 0)])
        if not k:
            return out
mstr = lambda s: struct.pack(">H", len(s)) + s
s = socket.create_connection(("127.0.0.1", port))
body = mstr(b"MQTT") + bytes([4, 0x02]) + struct.pack(">H", 60) + mstr(b"bench-pub")
s.sendall(bytes([0x10]) + enc_len(len(body)) + body)
buf = b""
def need(k):
    global buf
    while len(buf) < k:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("broker closed the connection")
        buf += chunk
need(4)
buf = buf[4:]  # CONNACK
data = b"x" * payload
acked = sent = 0
while acked < n:
    out = []
    while sent < n and sent - acked < 100:
        sent += 1
        v = mstr(b"bench/drain") + struct.pack(">H", sent % 65535 + 1) + data
        out.append(bytes([0x32]) + enc_len(len(v)) + v)
    s.sendall(b"".join(out))
    need(4)
    k = len(buf) // 4
    acked += k
    buf = buf[4 * k:]
s.sendall(b"\xe0\x00")
s.close()
PY
t1=$(now_us)
mosquitto_sub "${opts[@]}" -c -i bench-drain -t bench/drain -C "$n" >/dev/null
t2=$(now_us)

# Latency: publisher → broker → subscriber, QoS 1 both legs, one message at a time: a minimal
# MQTT 3.1.1 client on two sockets (mosquitto_pub -l batches its stdin, which would measure that).
python3 - "$port" "$samples" "$payload" >"$dir/lat.txt" <<'PY'
import socket, struct, sys, time
port, samples, payload = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def enc_len(n):
    out = b""
    while True:
        b, n = n % 128, n // 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out

def packet(kind, body):
    return bytes([kind]) + enc_len(len(body)) + body

def mstr(s):
    return struct.pack(">H", len(s)) + s

def read_packet(sock):
    head = sock.recv(1)
    if not head:
        raise EOFError
    n, mult = 0, 1
    while True:
        b = sock.recv(1)[0]
        n += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    body = b""
    while len(body) < n:
        body += sock.recv(n - len(body))
    return head[0], body

def connect(cid):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(packet(0x10, mstr(b"MQTT") + bytes([4, 0x02]) + struct.pack(">H", 60) + mstr(cid)))
    read_packet(s)  # CONNACK
    return s

sub, pub = connect(b"bench-lat-sub"), connect(b"bench-lat-pub")
sub.sendall(packet(0x82, struct.pack(">H", 1) + mstr(b"bench/lat") + bytes([1])))
read_packet(sub)  # SUBACK
body = b"x" * payload
for i in range(1, samples + 1):
    t0 = time.perf_counter_ns()
    pub.sendall(packet(0x32, mstr(b"bench/lat") + struct.pack(">H", i) + body))
    while True:
        kind, data = read_packet(sub)
        if kind & 0xF0 == 0x30:
            t1 = time.perf_counter_ns()
            pid = data[2 + struct.unpack(">H", data[:2])[0]:][:2]
            sub.sendall(packet(0x40, pid))  # PUBACK
            break
    read_packet(pub)  # PUBACK of our publish
    print((t1 - t0) // 1000)
PY

python3 - "$n" "$payload" "$t0" "$t1" "$t2" "$dir/lat.txt" "$("$broker" -h 2>/dev/null | head -1 | awk '{print $3}')" <<'PY'
import json, sys
n, payload, t0, t1, t2 = (int(x) for x in sys.argv[1:6])
lat = [int(line) for line in open(sys.argv[6]) if line.strip()]
lat.sort()
q = lambda p: lat[min(len(lat) - 1, max(0, -(-int(p * len(lat) * 1000) // 1000) - 1))] if lat else None
print(json.dumps({
    "peer": "mosquitto", "version": sys.argv[7], "qos": 1, "persistence": False,
    "n": n, "payload_bytes": payload,
    "queue_msgs_per_s": round(n / ((t1 - t0) / 1e6), 2),
    "drain_msgs_per_s": round(n / ((t2 - t1) / 1e6), 2),
    "latency_us": {"p50": q(0.5), "p99": q(0.99), "p999": q(0.999), "samples": len(lat)},
    "latency_method": "publish (QoS 1) written to the socket -> PUBLISH read by a QoS 1 "
                      "subscriber, one at a time, minimal MQTT 3.1.1 client in Python",
}))
PY
