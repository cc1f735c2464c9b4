# Performance (issue 20): the cache layers' targets and the device load.
# Each prints its figures with the load average; every run is bounded in
# requests and time, on loopback. PERF_BASELINE is a worktree of the commit
# to compare GetHome against (`git worktree add /tmp/perf-baseline 94ac216`).
PERF_BASELINE ?= /tmp/perf-baseline
DEVICE_SECONDS ?= 20
DEVICE_REPLICAS ?= 1 2

.PHONY: bench-cache bench-device bench-device-quick
bench-cache: $(VENV)/.installed ## cached GetTitle/GetProfile vs a bare echo, the chain's cost, GetHome peak vs PERF_BASELINE and its REST p99
	$(PY) -m bench.cache_bench $(if $(wildcard $(PERF_BASELINE)),--baseline $(PERF_BASELINE))

bench-device: $(VENV)/.installed ## device mix through Envoy at rising session rates, 1 and 2 processes per service; draws docs/perf/device_load.png
	$(PY) -m bench.device_load --seconds $(DEVICE_SECONDS) --replicas $(DEVICE_REPLICAS)

bench-device-quick: $(VENV)/.installed ## a short device-load run, one process per service (PNG in /tmp)
	$(PY) -m bench.device_load --seconds 8 --max-rate 4 --devices 30 --png /tmp/device_load.png
