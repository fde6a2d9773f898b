# Features and last-layer gradients (seed 000): the vectors of every training example under a
# source run's model snapshots, which the clustering rules read.


rule extract:
    input:
        unpack(one_line_errors(extract_inputs)),
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
        snapshots=lambda wildcards: [
            arg for tag in VECTORS[wildcards.vectors_id]["spec"]["checkpoints"] for arg in ("--snapshot", str(tag))
        ],
        kind=lambda wildcards: VECTORS[wildcards.vectors_id]["spec"]["space"],
        device=config["device"],
    shell:
        "python -m robustrepro extract --checkpoint {params.checkpoint:q} {params.snapshots:q} --data {input.data:q} "
        "--view {input.view:q} --kind {params.kind:q} --out {output.vectors:q} --device {params.device:q} "
        "--threads {threads} > {log:q} 2>&1"
