# Features and last-layer gradients (seed 000): the vectors of every training example under a
# source run's model snapshots, which the clustering rules read.


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
        checkpoint=lambda wildcards: (
            f"results/{wildcards.scale}/checkpoints/{VECTORS[wildcards.vectors_id]['spec']['source']}.pt"
        ),
        snapshots=lambda wildcards: " ".join(
            f"--snapshot {tag}" for tag in VECTORS[wildcards.vectors_id]["spec"]["checkpoints"]
        ),
        kind=lambda wildcards: VECTORS[wildcards.vectors_id]["spec"]["space"],
        device=config["device"],
    shell:
        "python -m robustrepro extract --checkpoint {params.checkpoint} {params.snapshots} --data {input.data} "
        "--view {input.view} --kind {params.kind} --out {output.vectors} --device {params.device} --threads {threads} > {log} 2>&1"
