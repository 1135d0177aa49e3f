#!/usr/bin/env bash
# The full benchmark run behind bench/RESULTS.md: every shape up to 1M leaves and the 1 GiB checkpoint benchmark (about 30 minutes on
# two cores), then the 1M-leaf memory footprint, then StateTree's operations at 1M leaves once more with the
# non-concurrent GC (about 8 minutes; RESULTS.md compares the GC modes), then the chart and the tables of
# RESULTS.md, all from that one run, and the raw reports copied to bench/results/. Extra arguments go to
# BenchmarkDotNet (e.g. --filter '*Split*').
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/BenchmarkDotNet.Artifacts
dotnet build bench/StateTree.Benchmarks/StateTree.Benchmarks.csproj -c Release
dotnet run -c Release --no-build --project bench/StateTree.Benchmarks -- --artifacts "$out" "$@"
dotnet run -c Release --no-build --project bench/StateTree.Benchmarks -- --memory "$out/results/memory.md"
dotnet run -c Release --no-build --project bench/StateTree.Benchmarks -- --batch-gc --shapes synthetic-1M \
    --filter '*_StateTree' '*Floor_Walk' --artifacts "$out-batch-gc"
dotnet run -c Release --project bench/StateTree.BenchChart -- "$out/results" bench/results-chart.png bench/RESULTS.md
cp "$out"/results/*-report-github.md "$out/results/memory.md" "$out/results/run-info.md" bench/results/
cp "$out-batch-gc/results/StateTree.Benchmarks.StateOps-report-github.md" bench/results/StateOps-batch-gc-report-github.md
