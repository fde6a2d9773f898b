# Offline clustering (seed 000): features or last-layer gradients of every training example from
# a source run's model snapshots, then greedy set cover of radius balls around them. A run whose
# config has a `clustering` gets the set cover as an input of its training job.


rule extract:
    input:
        source=lambda wildcards: metrics_path(wildcards.scale, VECTORS[wildcards.vectors_id]["spec"]["source"]),
        data=lambda wildcards: prepared_path(VECTORS[wildcards.vectors_id]["dataset"]),
        view=lambda wildcards: f"results/{wildcards.scale}/views/{VECTORS[wildcards.vectors_id]['view']}.npz",
    output:
        vectors="results/{scale}/vectors/{vectors_id}.npy",
        meta="results/{scale}/vectors/{vectors_id}.json",
    conda:
        ENV
    log:
        "results/{scale}/logs/extract/{vectors_id}.log",
    threads: config["threads"]
    resources:
        gpu=gpus_per_job(),
        mem_mb=16000,
        runtime=60,
    params:
        # Snapshots sit beside the source run's checkpoint, outside the declared outputs (see train.smk).
        snapshots=lambda wildcards: " ".join(
            f"--snapshot results/{wildcards.scale}/checkpoints/{VECTORS[wildcards.vectors_id]['spec']['source']}"
            f".{tag if isinstance(tag, str) else f'e{tag}'}.pt"
            for tag in VECTORS[wildcards.vectors_id]["spec"]["checkpoints"]
        ),
        kind=lambda wildcards: VECTORS[wildcards.vectors_id]["spec"]["space"],
        device=config["device"],
    shell:
        "python -m robustrepro extract {params.snapshots} --data {input.data} --view {input.view} "
        "--kind {params.kind} --out {output.vectors} --device {params.device} --threads {threads} > {log} 2>&1"


rule cluster:
    input:
        lambda wildcards: f"results/{wildcards.scale}/vectors/{CLUSTERS[wildcards.cluster_id]['vectors']}.npy",
    output:
        cover="results/{scale}/clusters/{cluster_id}.npz",
        meta="results/{scale}/clusters/{cluster_id}.json",
    conda:
        ENV
    log:
        "results/{scale}/logs/cluster/{cluster_id}.log",
    threads: config["threads"]
    resources:
        gpu=gpus_per_job(),
        mem_mb=16000,
        runtime=60,
    params:
        fineness=lambda wildcards: " ".join(
            f"--{key} {value}" for key, value in CLUSTERS[wildcards.cluster_id]["spec"].items()
            if key in ("radius", "share")
        ),
        device=config["device"],
    shell:
        "python -m robustrepro cluster --vectors {input} {params.fineness} --out {output.cover} "
        "--device {params.device} --threads {threads} > {log} 2>&1"
