"""Speed and quality benchmarks: ``python -m bench [name]`` runs every ``bench_*.py`` module's ``main()``."""
