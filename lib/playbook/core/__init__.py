"""The base every layer stands on: errors, profiles (typed settings), atomic files, asyncio glue.

Layers, lowest first; a module imports only from its own layer or lower ones (tests/unit/test_architecture.py):

    core     errors, profiles, fileio, aio
    sizing   model shapes, model preparation, the memory pre-flight, the roofline
    serving  engine adapters, the launcher, endpoints, server facts, health check, Kubernetes
    load     datasets, the streaming client, the load generator, latency metrics, sweeps, baselines
    reports  the day recorder, the outputs/ layout, the index and trends pages, plots
    days     one module per day and the helpers only days use
    run      the runner, the notebook harness, the manifest, the multi-GPU benchmark
    cli      ``playbook ...``
"""
