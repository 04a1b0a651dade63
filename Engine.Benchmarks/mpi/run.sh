#!/usr/bin/env bash
# All-reduce bandwidth and the data-parallel step's overhead on this machine: the distributed benchmark as one plain
# process (every core: the baseline) and under mpirun with 2 ranks (Open MPI, shared memory, one core each).
# Usage: bash Engine.Benchmarks/mpi/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMPI_MCA_btl=self,vader OMPI_MCA_rmaps_base_oversubscribe=1
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
dotnet build Engine.Benchmarks -c Release -v q -nologo >/dev/null
dll=Engine.Benchmarks/bin/Release/net10.0/Engine.Benchmarks.dll
echo "load: $(cat /proc/loadavg)"
dotnet $dll distributed "$@"
echo
mpirun -np 2 dotnet $dll distributed "$@" | sed 's/\x1b\[?1h\x1b=//g'
