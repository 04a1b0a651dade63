#!/usr/bin/env bash
# Load test of the serve command on loopback with wrk (apt-get install wrk): single-sample /predict and /learn
# requests (MNIST-sized: 784 features), bounded runs, repeated. Prints one RESULT line per run and a markdown table.
# The server and wrk share this machine's cores, so the figures are a floor for a server with the machine to itself.
#   bash Engine.Benchmarks/serve/load.sh [seconds per run, default 10] [repeats, default 3] [connections, default 32]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
repeats=${2:-3}
connections=${3:-32}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 2; }
dotnet build Examples -c Release -v q -nologo >/dev/null
state=$(mktemp -d)
port=18765
token=load-test-token
dotnet Examples/bin/Release/net10.0/Examples.dll serve --port $port --token $token --state "$state" >"$state/serve.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$state"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
head -1 "$state/serve.log"
echo "load: $(cat /proc/loadavg) before; $connections connections, 1 wrk thread, ${seconds}s runs"
results=()
for r in $(seq "$repeats"); do
  for path in /predict /learn; do
    line=$(ENGINE_PATH=$path ENGINE_TOKEN=$token wrk -t1 -c"$connections" -d"${seconds}s" --latency \
      -s Engine.Benchmarks/serve/request.lua "http://127.0.0.1:$port" | grep '^RESULT')
    echo "$line"
    results+=("$line")
  done
done
curl -s "http://127.0.0.1:$port/metrics"; echo
echo
echo "| endpoint | requests/s (samples/s) | p50 ms | p99 ms | errors |"
echo "|---|---|---|---|---|"
for line in "${results[@]}"; do
  eval "$(echo "$line" | sed 's/^RESULT //')"
  echo "| $path | $rps | $p50_ms | $p99_ms | $errors |"
done
