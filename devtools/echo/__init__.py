"""The diagnostic EchoService: reachability checks, runtime tests and benchmarks."""
